package harness

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/cxstream/cxstream/pipeline"
	"github.com/cxstream/cxstream/pkg/profile"
	"github.com/cxstream/cxstream/pkg/redisstore"
	"github.com/cxstream/cxstream/pkg/synth"
)

// Accuracy is how the pipeline's end state compares with the truth.
type Accuracy struct {
	Precision, Recall float64
	People, Profiles  int
	OverMerged, Split int
	Unresolved        int
	JunkLinked        int // junk identifiers in a profile (want 0)
	// Profiles whose order count or lifetime value differs from the sum of
	// their people's purchases; Checked is how many profiles were compared.
	Checked, OrdersWrong, RevenueWrong int
}

// MeasureAccuracy reads the tenant's identifier index and the profiles of
// every person, and scores them against the truth. It returns the number
// of identifiers in the index.
func MeasureAccuracy(ctx context.Context, cfg pipeline.Config, tenant string, t *Truth) (Accuracy, int, error) {
	var acc Accuracy
	st, err := pipeline.OpenRedis(ctx, cfg)
	if err != nil {
		return acc, 0, err
	}
	defer st.Close()
	graph, err := st.Graph(ctx, tenant)
	if err != nil {
		return acc, 0, err
	}
	profileOf := make(map[string]string, len(t.IDs))
	for id := range t.IDs {
		if pid := graph[id]; pid != "" && !strings.HasPrefix(pid, "~") {
			profileOf[id] = pid
		}
	}
	for _, id := range t.Junk {
		if pid := graph[id]; pid != "" && !strings.HasPrefix(pid, "~") {
			acc.JunkLinked++
		}
	}
	s := synth.Score(t.IDs, profileOf)
	acc.Precision, acc.Recall = s.Precision(), s.Recall()
	acc.People, acc.Profiles, acc.OverMerged, acc.Split, acc.Unresolved = s.People, s.Profiles, s.OverMerged, s.Split, s.Unresolved

	// What each profile must show: the purchases of the people whose
	// identifiers it holds (each person counted once per profile).
	type want struct {
		orders  int
		revenue map[string]float64
	}
	wants := map[string]*want{}
	type member struct {
		pid    string
		person int
	}
	counted := map[member]bool{}
	for id, person := range t.IDs {
		pid := profileOf[id]
		if pid == "" {
			continue
		}
		key := member{pid, person}
		if counted[key] {
			continue
		}
		counted[key] = true
		w := wants[pid]
		if w == nil {
			w = &want{revenue: map[string]float64{}}
			wants[pid] = w
		}
		w.orders += t.Orders[person]
		for cur, v := range t.Revenue[person] {
			w.revenue[cur] += v
		}
	}
	pids := make(chan string)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	model := st.Model()
	now := time.Now()
	for range 8 {
		wg.Add(1)
		go func() { // exits when pids is closed
			defer wg.Done()
			for pid := range pids {
				live, state, err := st.Profile(ctx, tenant, pid)
				var p *profile.Profile
				if err == nil {
					p = model.Render(tenant, live, state, profile.Meta{AsOf: now})
				}
				mu.Lock()
				switch {
				case err != nil && !errors.Is(err, redisstore.ErrNotFound):
					if firstErr == nil {
						firstErr = err
					}
				case err != nil:
					acc.OrdersWrong++
				default:
					w := wants[pid]
					acc.Checked++
					if p.Transactional.Orders != int64(w.orders) {
						acc.OrdersWrong++
					}
					// The population has no refunds: lifetime value is revenue.
					if !sameMoney(p.Transactional.LifetimeValue, w.revenue) {
						acc.RevenueWrong++
					}
				}
				mu.Unlock()
			}
		}()
	}
	for pid := range wants {
		pids <- pid
	}
	close(pids)
	wg.Wait()
	return acc, len(graph), firstErr
}

// sameMoney compares amounts per currency to the millionth the profile
// keeps; a currency with 0 equals a missing one.
func sameMoney(got, want map[string]float64) bool {
	for cur, v := range want {
		if math.Abs(got[cur]-v) > 5e-7 {
			return false
		}
	}
	for cur, v := range got {
		if _, ok := want[cur]; !ok && v != 0 {
			return false
		}
	}
	return true
}
