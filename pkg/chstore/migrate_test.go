package chstore

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cxstream/cxstream/schemas"
)

func TestMigrationsEmbedded(t *testing.T) {
	ms, err := Migrations(schemas.ClickHouse)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
	for i, m := range ms {
		if m.Version != uint32(i+1) {
			t.Errorf("migration %d is %s: versions must run 1, 2, 3 ... without gaps", i, m.File)
		}
		stmts := SplitStatements(m.SQL)
		if len(stmts) == 0 {
			t.Errorf("%s has no statement", m.File)
		}
		for _, s := range stmts {
			// The common subset of 18.16 and current ClickHouse.
			for _, banned := range []string{"DateTime64", "Map(", "JSON,", "JSONExtract", "TTL ", "LowCardinality"} {
				if strings.Contains(s, banned) {
					t.Errorf("%s uses %s, which ClickHouse 18.16 lacks", m.File, banned)
				}
			}
			if strings.HasPrefix(s, "CREATE TABLE") && !strings.HasPrefix(s, "CREATE TABLE IF NOT EXISTS") {
				t.Errorf("%s: CREATE TABLE must say IF NOT EXISTS so that a re-run is harmless", m.File)
			}
		}
	}
}

func TestMigrationsNaming(t *testing.T) {
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    []string
		wantErr string
	}{
		{"sorted by number", fstest.MapFS{
			"clickhouse/0010_b.sql": {Data: []byte("SELECT 1")},
			"clickhouse/0002_a.sql": {Data: []byte("SELECT 1")},
			"clickhouse/notes.txt":  {Data: []byte("ignored")},
		}, []string{"0002_a.sql", "0010_b.sql"}, ""},
		{"root directory", fstest.MapFS{"0001_x.sql": {Data: []byte("SELECT 1")}}, []string{"0001_x.sql"}, ""},
		{"duplicate version", fstest.MapFS{
			"0001_a.sql": {Data: []byte("SELECT 1")},
			"1_b.sql":    {Data: []byte("SELECT 1")},
		}, nil, "same version"},
		{"no number", fstest.MapFS{"events.sql": {Data: []byte("SELECT 1")}}, nil, "NNNN_name.sql"},
		{"version zero", fstest.MapFS{"0000_a.sql": {Data: []byte("SELECT 1")}}, nil, "NNNN_name.sql"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := Migrations(tt.files)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range ms {
				got = append(got, m.File)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("files = %v, want %v", got, tt.want)
			}
		})
	}
}
