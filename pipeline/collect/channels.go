package collect

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/mapping"
	"github.com/cxstream/cxstream/pkg/tracking"
)

// channelsPath is where the channel endpoints live: POST
// /v1/channels/{mapping} takes the records of one mapping (a help desk's
// webhook, a till system's receipts) and publishes their events.
const channelsPath = "/v1/channels/"

// channelAnswer is the answer to a channel request that was taken whole.
type channelAnswer struct {
	Success bool `json:"success"`
	// Records read, events published, records skipped by the mapping.
	Records int `json:"records"`
	Events  int `json:"events"`
	Skipped int `json:"skipped"`
}

func (c *Collector) channelEndpoint() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := c.admit(w, func() int { return c.serveChannel(w, r) })
		c.metrics.requests.WithLabelValues(channelsPath+"{mapping}", strconv.Itoa(code)).Inc()
	})
}

// serveChannel handles one channel request and returns the status code it
// answered with:
//
//   - 404: no mapping of that name;
//   - 401: no known write key, from HTTP Basic auth (the user name) or the
//     write_key query parameter (for webhook senders that cannot set
//     headers);
//   - 403: the write key is for another channel than the mapping's: a web
//     key, which browsers ship, cannot post store receipts;
//   - 429 with Retry-After: the write key is past collector.rate_limit
//     (503 with Retry-After before anything: collector.max_in_flight);
//   - 415 / 413 / 400: a Content-Type or Content-Encoding it cannot read, a
//     body larger than max_batch_bytes, or a body that cannot be read;
//   - 503 with Retry-After: Kafka did not acknowledge; the client retries
//     (records without an event_id template get ids derived from their
//     content, so a retry is recognised);
//   - 400 listing the rejected records by index (and line), after the
//     others were published and the rejected ones dead-lettered: a body
//     that is not readable as a whole is rejected whole;
//   - 200 {"success":true,"records":N,"events":N,"skipped":N}.
func (c *Collector) serveChannel(w http.ResponseWriter, r *http.Request) int {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	name := r.PathValue("name")
	m, ok := c.mappings.Get(name)
	if !ok {
		return reply(w, http.StatusNotFound, errorBody{Error: c.mappings.Unknown(name).Error()})
	}
	key, _, basic := r.BasicAuth()
	if !basic || key == "" {
		key = r.URL.Query().Get("write_key")
	}
	src, known := c.keys[key]
	switch {
	case key == "":
		return reply(w, http.StatusUnauthorized, errorBody{Error: "missing write key: send it as the HTTP Basic auth user name or as the write_key query parameter"})
	case !known:
		return reply(w, http.StatusUnauthorized, errorBody{Error: "unknown write key"})
	case src.Channel != m.Channel():
		return reply(w, http.StatusForbidden, errorBody{Error: fmt.Sprintf(
			"this write key is for channel %s; mapping %s writes channel %s: use a write key of channel %s", src.Channel, m.Name(), m.Channel(), m.Channel())})
	}
	if code := c.limited(w, key); code != 0 {
		return code
	}
	format, ok := mapping.FormatOfContentType(r.Header.Get("Content-Type"))
	if !ok {
		return reply(w, http.StatusUnsupportedMediaType, errorBody{Error: fmt.Sprintf(
			"unsupported Content-Type %q: send application/json, application/x-ndjson or text/csv", r.Header.Get("Content-Type"))})
	}
	body, err := readBody(r, c.cfg.MaxBatchBytes, "max_batch_bytes")
	if err != nil {
		var be *bodyError
		if errors.As(err, &be) {
			return reply(w, be.code, errorBody{Error: be.msg})
		}
		return reply(w, http.StatusBadRequest, errorBody{Error: err.Error()})
	}

	req := &request{endpoint: channelsPath + name, src: tracking.Source{Tenant: src.Tenant, Channel: m.Channel()}, now: c.now().UTC()}
	records, events, skipped := 0, 0, 0
	for rec, err := range m.Read(format, bytes.NewReader(body), c.cfg.MaxMessageBytes) {
		var ie *mapping.InputError
		if errors.As(err, &ie) {
			c.reject(req, -1, body, c.cfg.MaxBatchBytes, err, kafka.Header{Key: headerMapping, Value: []byte(m.Name())})
			break
		}
		records++
		if err == nil {
			out, merr := c.in.record(m, rec, src.Tenant, req.now)
			if merr == nil && len(out) == 0 {
				skipped++
				continue
			}
			if merr == nil {
				req.msgs = append(req.msgs, out...)
				events += len(out)
				req.accepted++
				continue
			}
			err = merr
		}
		n := len(req.errs)
		c.reject(req, rec.Index, rec.Raw, c.cfg.MaxMessageBytes, err, recordHeaders(m, rec)...)
		for i := n; i < len(req.errs); i++ {
			req.errs[i].Line = rec.Line
		}
	}

	if err := c.publish(r.Context(), req); err != nil {
		c.log.Warn("publish failed", "endpoint", req.endpoint, "tenant", src.Tenant, "messages", len(req.msgs), "error", err.Error())
		w.Header().Set("Retry-After", "1")
		return reply(w, http.StatusServiceUnavailable, errorBody{Error: "events could not be stored, retry later"})
	}
	c.metrics.events.WithLabelValues(resultAccepted).Add(float64(req.accepted))
	c.metrics.events.WithLabelValues(resultRejected).Add(float64(req.rejected))
	c.metrics.skipped.Add(float64(skipped))
	switch {
	case req.batchErr != nil:
		return reply(w, http.StatusBadRequest, errorBody{Error: "unreadable " + string(format) + " body: " + req.batchErr.Error()})
	case len(req.errs) > 0:
		accepted := req.accepted
		return reply(w, http.StatusBadRequest, errorBody{
			Error:    fmt.Sprintf("%d of %d records rejected, %d accepted, %d skipped", req.rejected, records, accepted, skipped),
			Accepted: &accepted,
			Errors:   req.errs,
		})
	}
	return reply(w, http.StatusOK, channelAnswer{Success: true, Records: records, Events: events, Skipped: skipped})
}
