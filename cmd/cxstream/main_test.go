package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cxstream/cxstream/pipeline"
)

// validConfig is the smallest file pipeline.Load accepts: the collector
// needs one write key. The addresses are the defaults and are never dialled
// by the unit tests.
const validConfig = `
collector:
  write_keys:
    - {key: test-web-key, tenant: t1, channel: web}
`

// writeConfig writes a YAML configuration to a temporary file and returns
// its path.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cxstream.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// clearEnv makes the unit tests independent of the caller's environment
// (scripts/services.sh env exports some of the variables Load reads).
func clearEnv(t *testing.T) {
	t.Helper()
	t.Setenv("CXSTREAM_CONFIG", "")
	for _, name := range pipeline.EnvVars() {
		t.Setenv(name, "")
	}
}

func TestHelpListsEveryCommand(t *testing.T) {
	commands := []string{"run", "collector", "resolver", "sink", "api", "migrate", "import", "mappings", "profile", "timeline", "stats", "triggers", "unmerge", "forget", "export", "identifier", "rebuild"}
	for _, args := range [][]string{nil, {"help"}, {"-h"}, {"--help"}} {
		t.Run(strings.Join(append([]string{"cxstream"}, args...), " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), args, &stdout, &stderr); err != nil {
				t.Fatalf("run: %v", err)
			}
			out := stdout.String()
			for _, c := range commands {
				if !strings.Contains(out, "\n  "+c+" ") {
					t.Errorf("usage does not list command %q:\n%s", c, out)
				}
			}
			for _, env := range pipeline.EnvVars() {
				if !strings.Contains(out, env) {
					t.Errorf("usage does not name environment variable %s", env)
				}
			}
			if strings.Contains(out, "%!") {
				t.Errorf("usage has a formatting error:\n%s", out)
			}
		})
	}
}

func TestCommandLineErrors(t *testing.T) {
	clearEnv(t)
	cfg := writeConfig(t, validConfig)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown command", []string{"frobnicate", "-config", cfg}, `unknown command "frobnicate"`},
		{"profile without tenant", []string{"profile", "-config", cfg, "email:jane@example.com"}, "usage: cxstream profile -tenant TENANT REF"},
		{"profile without ref", []string{"profile", "-config", cfg, "-tenant", "t1"}, "usage: cxstream profile -tenant TENANT REF"},
		{"profile with two refs", []string{"profile", "-config", cfg, "-tenant", "t1", "email:a@example.com", "email:b@example.com"}, "usage: cxstream profile"},
		{"timeline without tenant", []string{"timeline", "-config", cfg, "email:jane@example.com"}, "usage: cxstream timeline -tenant TENANT REF"},
		{"stats without tenant", []string{"stats", "-config", cfg}, "usage: cxstream stats -tenant TENANT"},
		{"forget without tenant", []string{"forget", "-config", cfg, "email:jane@example.com"}, "usage: cxstream forget -tenant TENANT REF"},
		{"export without ref", []string{"export", "-config", cfg, "-tenant", "t1"}, "usage: cxstream export -tenant TENANT REF"},
		{"unknown flag", []string{"stats", "-config", cfg, "-tennant", "t1"}, "-tennant"},
		{"missing config file", []string{"stats", "-config", filepath.Join(t.TempDir(), "nope.yaml"), "-tenant", "t1"}, "read config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			if err == nil {
				t.Fatalf("run %v: no error, want one containing %q", tt.args, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run %v: error %q, want it to contain %q", tt.args, err, tt.wantErr)
			}
			if stdout.Len() != 0 {
				t.Errorf("run %v printed to stdout: %q", tt.args, stdout.String())
			}
		})
	}
}

func TestConfigFileErrors(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name string
		yaml string
		// wantErr are substrings the error must contain: the offending key
		// (and for bad values, the field's path).
		wantErr []string
	}{
		{"unknown top-level key", validConfig + "bogus: 1\n", []string{"bogus"}},
		{"unknown nested key", validConfig + "redis:\n  adress: 127.0.0.1:6379\n", []string{"adress"}},
		{"unknown topic role", validConfig + "kafka:\n  topics:\n    interaction: cx.x\n", []string{"interaction"}},
		{"zero partitions", validConfig + "kafka:\n  partitions: 0\n", []string{"kafka.partitions", "got 0"}},
		{"bad database name", validConfig + "clickhouse:\n  database: cx-stream\n", []string{"clickhouse.database", "cx-stream"}},
		{"bad log level", validConfig + "telemetry:\n  log_level: loud\n", []string{"telemetry.log_level", "loud"}},
		{"no write keys", "collector:\n  write_keys: []\n", []string{"collector.write_keys"}},
		{"wrong type", validConfig + "kafka:\n  partitions: many\n", []string{"many"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeConfig(t, tt.yaml)
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), []string{"stats", "-config", cfg, "-tenant", "t1"}, &stdout, &stderr)
			if err == nil {
				t.Fatalf("config:\n%s\nno error, want one containing %q", tt.yaml, tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

// TestConfigFromEnvironment checks the configuration's sources without any
// service: "frobnicate" fails only after the configuration loaded, so an
// "unknown command" error means the configuration was accepted.
func TestConfigFromEnvironment(t *testing.T) {
	clearEnv(t)
	badLevel := writeConfig(t, validConfig+"telemetry:\n  log_level: loud\n")
	goodLevel := writeConfig(t, validConfig+"telemetry:\n  log_level: info\n")
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"env overrides a bad file value", []string{"frobnicate", "-config", badLevel}, map[string]string{"CXSTREAM_LOG_LEVEL": "debug"}, "unknown command"},
		{"bad env value overrides a good file", []string{"frobnicate", "-config", goodLevel}, map[string]string{"CXSTREAM_LOG_LEVEL": "loud"}, "telemetry.log_level"},
		{"empty env leaves the file value", []string{"frobnicate", "-config", badLevel}, map[string]string{"CXSTREAM_LOG_LEVEL": ""}, "telemetry.log_level"},
		{"CXSTREAM_CONFIG names the file", []string{"frobnicate"}, map[string]string{"CXSTREAM_CONFIG": badLevel}, "telemetry.log_level"},
		{"-config overrides CXSTREAM_CONFIG", []string{"frobnicate", "-config", goodLevel}, map[string]string{"CXSTREAM_CONFIG": badLevel}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run %v: error %v, want one containing %q", tt.args, err, tt.wantErr)
			}
		})
	}
}

func TestIdentifierPrintsTheStoredForm(t *testing.T) {
	clearEnv(t)
	hashing := validConfig + `
identity:
  types:
    email: {priority: 90, limit: 5, hash: true}
`
	out := func(cfg, ref string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), []string{"identifier", "-config", writeConfig(t, cfg), "-tenant", "acme", ref}, &stdout, &stderr)
		return strings.TrimSpace(stdout.String()), err
	}
	if got, err := out(validConfig, "email: Jane@Example.COM "); err != nil || got != "email:jane@example.com" {
		t.Errorf("without hashing: %q, %v; want email:jane@example.com", got, err)
	}
	if _, err := out(hashing, "email:jane@example.com"); err == nil || !strings.Contains(err.Error(), "CXSTREAM_IDENTITY_HASH_KEY") {
		t.Errorf("hashing without a key: err = %v, want one naming CXSTREAM_IDENTITY_HASH_KEY", err)
	}
	t.Setenv("CXSTREAM_IDENTITY_HASH_KEY", "cli-test-key-0123456789abcdef0123")
	a, err := out(hashing, "email: Jane@Example.COM ")
	if err != nil || !strings.HasPrefix(a, "email:hmac-sha256:") {
		t.Fatalf("with hashing: %q, %v; want email:hmac-sha256:...", a, err)
	}
	if b, _ := out(hashing, "email:jane@example.com"); b != a {
		t.Errorf("one email printed as %q and %q", a, b)
	}
	if b, _ := out(hashing, a); b != a {
		t.Errorf("a stored form given back printed as %q, want it unchanged", b)
	}
	if u, _ := out(hashing, "user_id:u-1"); u != "user_id:u-1" {
		t.Errorf("user_id is not hashed, yet printed %q", u)
	}
	if _, err := out(hashing, "no-colon"); err == nil {
		t.Error("a reference without type: was accepted")
	}
}
