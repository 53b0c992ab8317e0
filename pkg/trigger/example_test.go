package trigger_test

import (
	"context"
	"encoding/json"
	"log"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/trigger"
)

// send stands in for the email provider's API.
func send(to string, t *trigger.Trigger) error { return nil }

// An email service consuming cx.triggers: it mails abandoned carts and
// follow-ups, skips everything else by its header without decoding it,
// drops trigger ids it has handled (a trigger may be published more than
// once, always with the same id), and commits each message after handling
// it. The same code is in the README.
func Example_emailService() {
	ctx := context.Background()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{"127.0.0.1:9092"},
		GroupID: "email-service",
		Topic:   "cx.triggers",
	})
	defer r.Close()
	seen := map[string]bool{} // handled trigger ids; a real service keeps them durable
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			log.Fatal(err)
		}
		var typ string
		for _, h := range m.Headers {
			if h.Key == trigger.HeaderType {
				typ = string(h.Value)
			}
		}
		if typ == string(trigger.TypeCartAbandoned) || typ == string(trigger.TypeFollowUp) {
			var t trigger.Trigger
			if err := json.Unmarshal(m.Value, &t); err != nil {
				log.Printf("offset %d: %v", m.Offset, err)
			} else if !seen[t.TriggerID] && t.Contact.Email != "" {
				if err := send(t.Contact.Email, &t); err != nil {
					log.Fatal(err) // not committed: read again after a restart
				}
				seen[t.TriggerID] = true
			}
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			log.Fatal(err)
		}
	}
}
