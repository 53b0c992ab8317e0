package segment

// Default returns the example segments of the shipped configuration
// (docs/cxstream.example.yaml, docs/segments.md): useful as they are, and
// a pattern for a site's own.
func Default() []Spec {
	yes := true
	return []Spec{
		{
			Name:        "vip",
			Description: "Customers worth more than 1000 in the reporting currency",
			When:        Cond{Field: "transactional.lifetime_value_reporting", Gt: 1000},
		},
		{
			Name:        "vip_at_risk",
			Description: "High-value customers drifting away",
			Purpose:     "marketing",
			When: Cond{All: []Cond{
				{Field: "derived.lifecycle", Eq: "at_risk"},
				{Field: "transactional.lifetime_value_reporting", Gt: 500},
			}},
		},
		{
			Name:        "recent_detractors",
			Description: "NPS of 6 or less in the last 30 days",
			When: Cond{All: []Cond{
				{Field: "psychographic.nps.score", Lte: 6},
				{Field: "psychographic.nps.at", Within: "30d"},
			}},
		},
		{
			Name:        "store_only",
			Description: "Bought in a store but never seen online",
			When: Cond{All: []Cond{
				{Field: "behavioral.channels.store", Gt: 0},
				{Field: "transactional.orders", Gt: 0},
				{Not: &Cond{Field: "behavioral.channels.web", Exists: &yes}},
				{Not: &Cond{Field: "behavioral.channels.mobile", Exists: &yes}},
			}},
		},
	}
}
