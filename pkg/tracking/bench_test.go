package tracking

import (
	"testing"

	"github.com/cxstream/cxstream/pkg/event"
)

var benchTrack = []byte(`{"type":"track","messageId":"5f0b9a4e-2b7d-4f43-9c55-1c8f1a7c1d2e","userId":"u-1234567","anonymousId":"0b6c7e9a-3f1c-4f4e-8f0e-8a5b1c2d3e4f","event":"Order Completed","properties":{"order_id":"o-1001","revenue":49.9,"currency":"EUR","products":[{"sku":"SKU-1","price":19.95,"quantity":1},{"sku":"SKU-2","price":29.95,"quantity":1}]},"context":{"ip":"203.0.113.7","userAgent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36","library":{"name":"analytics.js","version":"2.11.1"},"page":{"path":"/checkout/done","url":"https://shop.example/checkout/done","referrer":"https://shop.example/cart"},"traits":{"email":"Jane.Doe@Example.com"},"locale":"en-GB"},"timestamp":"2026-03-01T11:57:30.250Z","sentAt":"2026-03-01T11:58:00.000Z"}`)

var benchIdentify = []byte(`{"type":"identify","messageId":"6a1c9b4e-2b7d-4f43-9c55-1c8f1a7c1d2e","userId":"u-1234567","traits":{"email":"Jane.Doe@Example.com","phone":"+44 20 7946 0958","name":"Jane Doe","plan":"premium","age":41},"context":{"device":{"id":"B5372DB0-C21E-11E4-8DFC-AA07A5B093DB"},"externalIds":[{"id":"L-000042","type":"loyalty_id","collection":"users","encoding":"none"}]},"timestamp":"2026-03-01T11:59:59Z"}`)

// BenchmarkMap measures the collector's per-message hot path: decode, map,
// prepare and encode the envelope.
func BenchmarkMap(b *testing.B) {
	for _, bc := range []struct {
		name string
		body []byte
	}{{"track", benchTrack}, {"identify", benchIdentify}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.body)))
			for b.Loop() {
				m, err := DecodeMessage(bc.body)
				if err != nil {
					b.Fatal(err)
				}
				e, err := Map(m, goldenSource, goldenNow)
				if err != nil {
					b.Fatal(err)
				}
				if err := Prepare(e, event.DefaultLimits()); err != nil {
					b.Fatal(err)
				}
				if _, err := event.Encode(e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
