package identity

import (
	"testing"

	"github.com/google/uuid"

	"github.com/cxstream/cxstream/pkg/event"
)

func TestStrongestAndSort(t *testing.T) {
	r := DefaultRules()
	ids := []event.Identifier{
		{Type: "anonymous_id", Value: "a"}, {Type: "phone", Value: "+4915112345678"},
		{Type: "crm_id", Value: "c"}, {Type: "email", Value: "z@x.io"}, {Type: "email", Value: "a@x.io"},
	}
	if got, _ := r.Strongest(ids); got.String() != "email:a@x.io" {
		t.Errorf("Strongest = %s, want email:a@x.io (highest priority, then smallest)", got)
	}
	r.Sort(ids)
	want := []string{"email:a@x.io", "email:z@x.io", "phone:+4915112345678", "crm_id:c", "anonymous_id:a"}
	for i, id := range ids {
		if id.String() != want[i] {
			t.Fatalf("Sort = %v, want %v", ids, want)
		}
	}
	if _, ok := r.Strongest(nil); ok {
		t.Error("Strongest of no identifiers reported ok")
	}
}

func TestCandidateIDIsStable(t *testing.T) {
	a, b := CandidateID("acme", "e-1"), CandidateID("acme", "e-1")
	if a != b {
		t.Fatalf("not deterministic: %s %s", a, b)
	}
	if CandidateID("other", "e-1") == a || CandidateID("acme", "e-2") == a {
		t.Error("different tenant or event gave the same id")
	}
	if u, err := uuid.Parse(a); err != nil || u.Version() != 5 {
		t.Errorf("%s is not a UUID v5: %v", a, err)
	}
}

func TestValidate(t *testing.T) {
	r := DefaultRules()
	r.Types["bad"] = TypeRule{Priority: -1}
	if err := r.Validate(); err == nil {
		t.Error("negative priority accepted")
	}
	if err := DefaultRules().Validate(); err != nil {
		t.Error(err)
	}
}
