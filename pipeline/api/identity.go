package api

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/profile"
)

// IdentityView is the answer of GET /v1/profiles/{ref}/identity: why the
// profile holds the identifiers it holds.
type IdentityView struct {
	ProfileID string `json:"profile_id"`
	Tenant    string `json:"tenant"`
	// Identifiers are the profile's identifiers (from Redis, as in the
	// profile), sorted by type and value.
	Identifiers []IdentifierLink `json:"identifiers"`
	// History holds the identity records of the profile and of the profiles
	// merged into it (from ClickHouse), oldest first. See
	// chstore.Store.IdentityHistory for which records.
	History []identity.Record `json:"history"`
	// HistoryTruncated says that History stopped at the limit; the newest
	// records are missing.
	HistoryTruncated bool `json:"history_truncated"`
	// MergedFrom lists the profile ids merged into this one (from Redis).
	MergedFrom []string `json:"merged_from"`
}

// IdentifierLink is one identifier of a profile and the record that put it
// there, if the history holds one.
type IdentifierLink struct {
	Type  string `json:"type"`
	Value string `json:"value"`
	// LinkedAt is the earliest event time at which the identifier is on the
	// profile (the state's i:<type>:<value> field). A late event can make it
	// earlier than the linking record's time.
	LinkedAt *time.Time `json:"linked_at,omitempty"`
	// EventID, How (the record's kind: identifier_linked or
	// identifier_moved) and Rule come from the newest record of History that
	// put the identifier on the profile or on a profile merged into it
	// since; ViaProfileID names that merged profile. All are empty when the
	// history holds no such record yet (the sink trails Redis by its batch
	// time) or was truncated before it.
	EventID      string        `json:"event_id,omitempty"`
	How          identity.Kind `json:"how,omitempty"`
	Rule         string        `json:"rule,omitempty"`
	ViaProfileID string        `json:"via_profile_id,omitempty"`
}

func (a *API) getIdentity(w http.ResponseWriter, r *http.Request, tenant string) int {
	limit := 0
	if s := r.URL.Query().Get("limit"); s != "" {
		var err error
		if limit, err = strconv.Atoi(s); err != nil {
			return writeError(w, http.StatusBadRequest, "limit: must be a whole number")
		}
	}
	id, st, code := a.resolve(w, r, tenant)
	if code != 0 {
		return code
	}
	h, err := a.timelines.IdentityHistory(r.Context(), tenant, id, limit)
	switch {
	case errors.Is(err, chstore.ErrBadQuery):
		return writeError(w, http.StatusBadRequest, err.Error())
	case err != nil:
		a.log.Error("read identity history", "err", err)
		return writeError(w, http.StatusServiceUnavailable, "identity history store unavailable")
	}
	return writeJSON(w, http.StatusOK, identityView(a.model, tenant, id, st, h))
}

// identityView joins the profile's identifiers (Redis) with the records that
// linked them (ClickHouse).
func identityView(m *profile.Model, tenant, id string, st profile.State, h chstore.History) IdentityView {
	p := m.Render(tenant, id, st, profile.Meta{})
	v := IdentityView{
		ProfileID:        id,
		Tenant:           tenant,
		Identifiers:      []IdentifierLink{},
		History:          h.Records,
		HistoryTruncated: h.Truncated,
		MergedFrom:       p.MergedFrom,
	}
	if v.History == nil {
		v.History = []identity.Record{}
	}
	// The profiles whose links count: this one and those merged into it, as
	// Redis knows them (ahead of ClickHouse) and as ClickHouse's history
	// covered them.
	ours := map[string]bool{id: true}
	for _, pid := range p.MergedFrom {
		ours[pid] = true
	}
	for _, pid := range h.ProfileIDs {
		ours[pid] = true
	}
	linkedBy := map[string]identity.Record{} // identifier -> newest record that put it on ours
	for _, rec := range h.Records {
		if (rec.Kind == identity.KindLinked || rec.Kind == identity.KindMoved) && rec.Identifier != "" && ours[rec.ProfileID] {
			linkedBy[rec.Identifier] = rec
		}
	}
	types := make([]string, 0, len(p.Identifiers))
	for typ := range p.Identifiers {
		types = append(types, typ)
	}
	slices.Sort(types)
	for _, typ := range types {
		for _, value := range p.Identifiers[typ] { // sorted by FromState
			key := typ + ":" + value
			link := IdentifierLink{Type: typ, Value: value}
			if ms, err := strconv.ParseInt(st[profile.IDField(key)], 10, 64); err == nil {
				at := time.UnixMilli(ms).UTC()
				link.LinkedAt = &at
			}
			if rec, ok := linkedBy[key]; ok {
				link.EventID, link.How, link.Rule = rec.EventID, rec.Kind, rec.Rule
				if rec.ProfileID != id {
					link.ViaProfileID = rec.ProfileID
				}
			}
			v.Identifiers = append(v.Identifiers, link)
		}
	}
	return v
}
