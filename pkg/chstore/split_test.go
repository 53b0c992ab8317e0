package chstore

import (
	"slices"
	"testing"
)

func TestSplitStatements(t *testing.T) {
	tests := []struct {
		name string
		sql  string
		want []string
	}{
		{"empty", "", nil},
		{"comments only", "-- a;\n  -- b\n\n", nil},
		{"one", "CREATE TABLE a (x UInt8) ENGINE = Memory;\n", []string{"CREATE TABLE a (x UInt8) ENGINE = Memory"}},
		{"last without semicolon", "SELECT 1;\nSELECT 2\n", []string{"SELECT 1", "SELECT 2"}},
		{"multi-line with trailing spaces and CRLF", "CREATE TABLE a\r\n(\r\n  x UInt8\r\n) ENGINE = Memory;  \r\nSELECT 1;",
			[]string{"CREATE TABLE a\r\n(\r\n  x UInt8\r\n) ENGINE = Memory", "SELECT 1"}},
		{"semicolon inside a line does not split", "SELECT 'a;b' AS x;\n", []string{"SELECT 'a;b' AS x"}},
		{"comment ending in semicolon is dropped", "-- creates a;\nCREATE TABLE a (x UInt8) ENGINE = Memory;\n",
			[]string{"CREATE TABLE a (x UInt8) ENGINE = Memory"}},
		{"empty statements are skipped", ";\n;\nSELECT 1;\n", []string{"SELECT 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SplitStatements(tt.sql); !slices.Equal(got, tt.want) {
				t.Errorf("SplitStatements(%q) = %q, want %q", tt.sql, got, tt.want)
			}
		})
	}
}
