package collect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cxstream/cxstream/pipeline/internal/limit"
	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/tracking"
)

// endpoint handles one tracking API path. typ is the type the path forces on
// its message, or "" for a batch.
func (c *Collector) endpoint(path string, typ event.Type) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := c.admit(w, func() int { return c.serve(w, r, path, typ) })
		c.metrics.requests.WithLabelValues(path, strconv.Itoa(code)).Inc()
	})
}

// admit runs serve if a slot of collector.max_in_flight is free, and
// answers 503 with Retry-After otherwise (before reading the body).
func (c *Collector) admit(w http.ResponseWriter, serve func() int) int {
	release, err := c.inFlight.Acquire()
	if err != nil {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Retry-After", "1")
		return reply(w, http.StatusServiceUnavailable, errorBody{Error: "the collector is busy (collector.max_in_flight requests in flight), retry later"})
	}
	defer release()
	return serve()
}

// limited answers 429 with Retry-After when write key key has used up its
// collector.rate_limit, and returns 0 otherwise.
func (c *Collector) limited(w http.ResponseWriter, key string) int {
	if ok, wait := c.rate.Allow(key); !ok {
		w.Header().Set("Retry-After", limit.RetryAfter(wait))
		return reply(w, http.StatusTooManyRequests, errorBody{Error: "this write key sends more requests than collector.rate_limit allows, retry later"})
	}
	return 0
}

// serve handles one request and returns the status code it answered with:
//
//   - 503 with Retry-After: collector.max_in_flight requests are being
//     handled (before the body is read);
//   - 401: no known write key, from HTTP Basic auth (the user name) or, when
//     that is absent, the body's writeKey;
//   - 429 with Retry-After: the write key is past collector.rate_limit;
//   - 413 / 415 / 400: a body too large, in an unknown encoding, or not
//     readable; nothing of it is kept;
//   - 503 with Retry-After: Kafka did not acknowledge; the client retries the
//     whole request (already stored messages come again and are deduplicated
//     by event_id downstream);
//   - 400 listing the invalid messages, after the valid ones were published
//     and the invalid ones dead-lettered together (see handleBatch);
//   - 200 {"success":true}: every message is stored in Kafka.
func (c *Collector) serve(w http.ResponseWriter, r *http.Request, path string, typ event.Type) int {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	key, _, basic := r.BasicAuth()
	basic = basic && key != ""
	if _, known := c.keys[key]; basic && !known {
		return reply(w, http.StatusUnauthorized, errorBody{Error: "unknown write key"})
	}
	limit, setting := c.cfg.MaxMessageBytes, "max_message_bytes"
	if typ == "" {
		limit, setting = c.cfg.MaxBatchBytes, "max_batch_bytes"
	}
	body, err := readBody(r, limit, setting)
	if err != nil {
		var be *bodyError
		if errors.As(err, &be) {
			return reply(w, be.code, errorBody{Error: be.msg})
		}
		return reply(w, http.StatusBadRequest, errorBody{Error: err.Error()})
	}

	req := &request{endpoint: path, typ: typ, batch: typ == "", now: c.now().UTC()}
	var (
		msg     *tracking.Message
		batch   *tracking.Batch
		bodyKey string
	)
	if typ == "" {
		if batch, err = tracking.DecodeBatch(body); err == nil {
			bodyKey = batch.WriteKey
		}
	} else if msg, err = tracking.DecodeMessage(body); err == nil {
		bodyKey = msg.WriteKey
	}
	if !basic {
		if err != nil {
			bodyKey = tracking.BodyWriteKey(body)
		}
		key = bodyKey
	}
	src, known := c.keys[key]
	if !known {
		reason := "unknown write key"
		if key == "" {
			reason = "missing write key: send it as the HTTP Basic auth user name or as writeKey in the JSON body"
		}
		return reply(w, http.StatusUnauthorized, errorBody{Error: reason})
	}
	req.src = src
	if code := c.limited(w, key); code != 0 {
		return code
	}

	switch {
	case err != nil && typ == "":
		// The batch as a whole is unusable: keep it for inspection.
		c.reject(req, -1, body, limit, err)
	case err != nil:
		c.reject(req, 0, body, limit, err)
	case typ == "":
		c.handleBatch(req, batch)
	default:
		c.handle(req, 0, body, msg)
	}

	if err := c.publish(r.Context(), req); err != nil {
		c.log.Warn("publish failed", "endpoint", path, "tenant", src.Tenant, "messages", len(req.msgs), "error", err.Error())
		w.Header().Set("Retry-After", "1")
		return reply(w, http.StatusServiceUnavailable, errorBody{Error: "events could not be stored, retry later"})
	}
	c.metrics.events.WithLabelValues(resultAccepted).Add(float64(req.accepted))
	c.metrics.events.WithLabelValues(resultRejected).Add(float64(req.rejected))

	switch {
	case req.batchErr != nil:
		return reply(w, http.StatusBadRequest, errorBody{Error: "invalid batch: " + req.batchErr.Error()})
	case len(req.errs) > 0:
		accepted := req.accepted
		return reply(w, http.StatusBadRequest, errorBody{
			Error:    fmt.Sprintf("%d of %d messages rejected, %d accepted", req.rejected, req.rejected+req.accepted, accepted),
			Accepted: &accepted,
			Errors:   req.errs,
		})
	}
	return replySuccess(w)
}

// publish writes the request's envelopes and dead letters in one call and
// returns once Kafka acknowledged all of them. The write is detached from the
// client's connection (a client that hangs up does not cut a write in half)
// and bounded by cfg.PublishTimeout.
func (c *Collector) publish(ctx context.Context, req *request) error {
	if len(req.msgs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.PublishTimeout)
	defer cancel()
	start := time.Now()
	err := c.pub.WriteMessages(ctx, req.msgs...)
	c.metrics.publish.Observe(time.Since(start).Seconds())
	if err != nil {
		return fmt.Errorf("publish %d messages: %w", len(req.msgs), err)
	}
	return nil
}
