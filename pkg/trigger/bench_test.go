package trigger

import (
	"testing"

	"github.com/cxstream/cxstream/pkg/profile"
)

// BenchmarkFeedbackOrdinary measures the negative-feedback check of an
// event that is not feedback (most events): the properties are scanned,
// not decoded.
func BenchmarkFeedbackOrdinary(b *testing.B) {
	e := track("Product Viewed", "web", `{"product_id":"p-1","sku":"S-1","name":"Runner","price":89.9,"category":"shoes","url":"https://shop.example/p-1"}`)
	cfg, pc := Default().NegativeFeedback, profile.DefaultConfig().Feedback
	b.ReportAllocs()
	for b.Loop() {
		NegativeFeedback(cfg, e, ReadFeedback(pc, e))
	}
}

// BenchmarkFeedbackSurvey measures it on an NPS answer with a comment.
func BenchmarkFeedbackSurvey(b *testing.B) {
	e := track("Survey Responded", "survey", `{"survey":"nps","survey_id":"nps-q1-2026","response_id":"r-5521","nps":3,"comment":"Delivery took two weeks and nobody answered my emails. Very disappointed.","asked_via":"email"}`)
	cfg, pc := Default().NegativeFeedback, profile.DefaultConfig().Feedback
	b.ReportAllocs()
	for b.Loop() {
		NegativeFeedback(cfg, e, ReadFeedback(pc, e))
	}
}
