package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pipeline/privacy"
	"github.com/cxstream/cxstream/pkg/chstore"
	"github.com/cxstream/cxstream/pkg/kafkaio"
)

// errIncomplete: the erasure was made but rows may still reach ClickHouse.
var errIncomplete = errors.New("the sink had not stored everything yet, so rows of the person may still arrive in ClickHouse: run the same forget again later")

// openPrivacy connects to Redis, ClickHouse and Kafka and returns the
// privacy service and a function that closes them.
func openPrivacy(ctx context.Context, cfg pipeline.Config, wait time.Duration) (*privacy.Service, func(), error) {
	rs, err := pipeline.OpenRedis(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	ch, err := chstore.Open(ctx, cfg.ClickHouse)
	if err != nil {
		rs.Close()
		return nil, nil, err
	}
	w := kafkaio.NewWriter(cfg.Kafka)
	closeAll := func() { w.Close(); ch.Close(); rs.Close() }
	svc, err := pipeline.NewPrivacy(cfg, rs, ch, w, wait, nil)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return svc, closeAll, nil
}

// forget erases the person REF names and prints the report as JSON.
func forget(ctx context.Context, cfg pipeline.Config, tenant, ref string, wait time.Duration, stdout io.Writer) error {
	svc, closeAll, err := openPrivacy(ctx, cfg, wait)
	if err != nil {
		return err
	}
	defer closeAll()
	rep, err := svc.Forget(ctx, tenant, ref)
	if rep.ProfileID != "" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if encErr := enc.Encode(rep); encErr != nil {
			return encErr
		}
	}
	if err != nil {
		return fmt.Errorf("forget %s: %w", ref, err)
	}
	if !rep.Complete {
		return errIncomplete
	}
	return nil
}

// export prints all data held on the person REF names, as JSON.
func export(ctx context.Context, cfg pipeline.Config, tenant, ref string, stdout io.Writer) error {
	svc, closeAll, err := openPrivacy(ctx, cfg, time.Second)
	if err != nil {
		return err
	}
	defer closeAll()
	exp, err := svc.Export(ctx, tenant, ref)
	if err != nil {
		return fmt.Errorf("export %s: %w", ref, err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(exp)
}
