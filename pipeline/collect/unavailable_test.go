package collect

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/kafkaio"
)

// TestIntegrationKafkaUnavailable points the collector's real kafka-go
// writer at Kafka that cannot store anything: no request may be answered
// 200; every one that has something to store gets 503 with Retry-After and
// a JSON error, within the publish timeout. Two brokers that fail:
//
//   - refused: a loopback port where nothing listens (opened, then closed),
//     so every connection is refused at once;
//   - silent: a loopback listener that accepts connections and never
//     answers, like a hung broker, so only the publish timeout ends the
//     write.
//
// It needs no running Kafka, so unlike the other integration tests it never
// skips. It takes about 2 publish timeouts (2 s each).
func TestIntegrationKafkaUnavailable(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		if err := ln.Close(); err != nil {
			t.Fatal(err)
		}
		unavailRun(t, addr, true)
	})
	t.Run("silent", func(t *testing.T) {
		unavailRun(t, unavailSilentBroker(t), false)
	})
}

// unavailSilentBroker listens on a loopback port, accepts every connection and
// reads from it without ever answering. Everything is closed when t ends.
func unavailSilentBroker(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // closed
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(io.Discard, conn)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// unavailRun runs requests through a collector whose kafka-go
// writer points at broker. With all, every request is sent; else only a
// track and a batch (each waits the whole publish timeout).
func unavailRun(t *testing.T, broker string, all bool) {
	kcfg := kafkaio.Default()
	kcfg.Brokers = []string{broker}
	w := kafkaio.NewWriter(kcfg)
	cfg := testConfig()
	const publishTimeout = 2 * time.Second
	cfg.PublishTimeout = publishTimeout
	c, err := New(cfg, identity.DefaultRules(), kcfg.Topics, w, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	// Cleanups run last first: the server, then the writer (whose Close
	// waits for writes in flight; it must not hold the test binary).
	t.Cleanup(func() {
		done := make(chan struct{})
		go func() { _ = w.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			t.Error("kafka writer Close did not return within 3s")
		}
	})
	t.Cleanup(srv.Close)
	client := &http.Client{Timeout: 3 * publishTimeout}

	tests := []struct {
		name, path, key, body string
		code                  int
		always                bool
	}{
		{"valid track", "/v1/track", "wk-web", trackBody, http.StatusServiceUnavailable, true},
		{"valid batch", "/v1/batch", "wk-store", `{"batch":[` + trackBody + `,{"type":"identify","messageId":"m-2","anonymousId":"a-1","traits":{"email":"a@example.com"}}]}`, http.StatusServiceUnavailable, true},
		// A rejected message must reach the dead-letter topic before the
		// client is told 400; when it cannot, the client retries.
		{"invalid track (dead letter only)", "/v1/track", "wk-web", `{"messageId":"m-3","event":"E"}`, http.StatusServiceUnavailable, false},
		{"partial batch", "/v1/batch", "wk-web", `{"batch":[` + trackBody + `,{"type":"track","userId":{},"event":"E"}]}`, http.StatusServiceUnavailable, false},
		// Nothing to store: the answer does not depend on Kafka.
		{"unknown write key", "/v1/track", "wk-nope", trackBody, http.StatusUnauthorized, true},
	}
	for _, tt := range tests {
		if !all && !tt.always {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, srv.URL+tt.path, bytes.NewReader([]byte(tt.body)))
			if err != nil {
				t.Fatal(err)
			}
			req.SetBasicAuth(tt.key, "")
			req.Header.Set("Content-Type", "application/json")
			sent := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			took := time.Since(sent)
			t.Logf("%s %s -> %d in %v, Retry-After %q: %s", tt.path, tt.name, resp.StatusCode, took.Round(time.Millisecond), resp.Header.Get("Retry-After"), bytes.TrimSpace(body))
			if resp.StatusCode == http.StatusOK {
				t.Fatalf("answered 200 although Kafka cannot store anything: %s", body)
			}
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.code, body)
			}
			var eb errorBody
			if err := json.Unmarshal(body, &eb); err != nil || eb.Error == "" {
				t.Fatalf("answer is not a JSON error (%v): %s", err, body)
			}
			if tt.code != http.StatusServiceUnavailable {
				return
			}
			if ra := resp.Header.Get("Retry-After"); ra == "" {
				t.Error("503 without Retry-After")
			}
			if eb.Accepted != nil || len(eb.Errors) != 0 {
				t.Errorf("503 answer lists messages as if some were stored: %s", body)
			}
			if took > publishTimeout+time.Second {
				t.Errorf("answered after %v, want within the publish timeout of %v", took, publishTimeout)
			}
		})
	}
}
