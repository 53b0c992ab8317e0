package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pipeline/api"
	"github.com/cxstream/cxstream/pkg/telemetry"
)

// lockedBuffer is a log sink safe for the pipeline's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestIntegrationSecretsNeverLogged runs every stage at debug level and
// uses the write key, the API tokens, and near misses of each (a wrong
// key, a token with one character more, a key sent in the body), through
// accepted, refused and failing requests, with user ids hashed at rest
// under a key. No secret may appear in the log.
func TestIntegrationSecretsNeverLogged(t *testing.T) {
	cfg, suffix := testConfig(t)
	tenant := cfg.API.Tokens[0].Tenant
	admin := "e2e-admin-secret-" + suffix + "-0123456789"
	cfg.API.Tokens = append(cfg.API.Tokens, api.Token{Token: admin, Tenant: tenant, Admin: true})
	key := "web-" + suffix
	// user_id is stored hashed: the key of the hashing is a secret too.
	rule := cfg.Identity.Types["user_id"]
	rule.Hash = true
	cfg.Identity.Types["user_id"] = rule
	cfg.Identity.HashKey = "e2e-hash-key-secret-" + suffix + "-0123456789"
	secrets := []string{key, key + "x", apiToken, apiToken + "x", admin, cfg.Identity.HashKey}

	var logs lockedBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pipeline.Run(ctx, cfg, pipeline.AllStages, log, telemetry.NewRegistry()) }()
	eventually(t, 2*time.Minute, "pipeline ready", func() (bool, string) {
		resp, err := http.Get("http://" + cfg.Telemetry.Addr + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})

	post := func(user, body string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+cfg.Collector.Addr+"/v1/track", strings.NewReader(body))
		if user != "" {
			req.SetBasicAuth(user, "")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	msg, _ := json.Marshal(map[string]any{"messageId": "s-1", "userId": "u-" + suffix, "event": "Viewed", "writeKey": key})
	if code := post(key, string(msg)); code != http.StatusOK {
		t.Errorf("accepted track: %d", code)
	}
	if code := post(key+"x", string(msg)); code != http.StatusUnauthorized {
		t.Errorf("wrong write key: %d, want 401", code)
	}
	if code := post("", `{"messageId": "s-3", "event": "Viewed", "userId": "u", "writeKey": "`+key+`x"}`); code != http.StatusUnauthorized {
		t.Errorf("wrong write key in the body: %d, want 401", code)
	}
	if code := post(key, `{"messageId": "s-2", "event": 7, "writeKey": "`+key+`"}`); code != http.StatusBadRequest {
		t.Errorf("bad track: %d, want 400", code)
	}
	base := "http://" + cfg.API.Addr + "/v1/profiles/"
	eventually(t, time.Minute, "the profile", func() (bool, string) {
		code, body := apiDo(t, http.MethodGet, apiToken, base+"user_id:u-"+suffix)
		return code == http.StatusOK, string(body)
	})
	for _, tok := range []string{apiToken + "x", admin + "x"} {
		if code, _ := apiDo(t, http.MethodGet, tok, base+"user_id:u-"+suffix); code != http.StatusUnauthorized {
			t.Errorf("wrong token: %d, want 401", code)
		}
	}
	if code, body := apiDo(t, http.MethodDelete, admin, base+"user_id:u-"+suffix); code != http.StatusOK {
		t.Errorf("forget: %d %s", code, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("pipeline: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline did not stop")
	}
	out := logs.String()
	if !strings.Contains(out, `"level":"DEBUG"`) {
		t.Fatalf("no debug line was logged; the test would prove little:\n%.2000s", out)
	}
	for _, s := range secrets {
		if i := strings.Index(out, s); i >= 0 {
			t.Errorf("the log holds the secret %q: ...%s...", s, out[max(0, i-200):min(len(out), i+200)])
		}
	}
}
