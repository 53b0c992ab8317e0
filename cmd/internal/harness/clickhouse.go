package harness

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/cxstream/cxstream/pipeline"
)

// CountEvents counts the tenant's rows in cx_events and their distinct
// event ids.
func CountEvents(ctx context.Context, cfg pipeline.Config, tenant string) (rows, uniq uint64, err error) {
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{cfg.ClickHouse.Addr},
		Auth: clickhouse.Auth{Database: cfg.ClickHouse.Database, Username: cfg.ClickHouse.Username, Password: cfg.ClickHouse.Password}})
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	err = conn.QueryRow(ctx, "SELECT count(), uniqExact(event_id) FROM cx_events WHERE tenant = ?", tenant).Scan(&rows, &uniq)
	if err != nil {
		return 0, 0, fmt.Errorf("clickhouse: count cx_events: %w", err)
	}
	return rows, uniq, nil
}
