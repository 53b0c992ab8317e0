package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/cxstream/cxstream/pipeline/privacy"
	"github.com/cxstream/cxstream/pkg/redisstore"
)

// Privacy erases and exports people (privacy.Service).
type Privacy interface {
	Forget(ctx context.Context, tenant, ref string) (privacy.Report, error)
	Export(ctx context.Context, tenant, ref string) (*privacy.Export, error)
}

// WithPrivacy enables DELETE /v1/profiles/{ref} (admin tokens) and
// GET /v1/profiles/{ref}/export.
func (a *API) WithPrivacy(p Privacy) *API {
	a.privacy = p
	return a
}

// deleteProfile forgets the person {ref} names (admin tokens only). It
// answers 200 with the report when everything is erased, and 202 when
// ClickHouse rows may still arrive (the sink was behind): repeat the
// request later to finish.
func (a *API) deleteProfile(w http.ResponseWriter, r *http.Request, tenant string) int {
	if tok, _ := r.Context().Value(tokenKey{}).(Token); !tok.Admin {
		return writeError(w, http.StatusForbidden, "forgetting a person needs an admin token (api.tokens[].admin: true)")
	}
	if a.privacy == nil {
		return writeError(w, http.StatusNotImplemented, "erasure is not enabled on this server")
	}
	ref := r.PathValue("ref")
	rep, err := a.privacy.Forget(r.Context(), tenant, ref)
	switch {
	case errors.Is(err, redisstore.ErrNotFound):
		return writeError(w, http.StatusNotFound, "no profile for "+strconv.Quote(ref))
	case errors.Is(err, redisstore.ErrBadRef):
		return writeError(w, http.StatusBadRequest, err.Error())
	case err != nil && rep.ProfileID == "":
		a.log.Error("forget", "err", err)
		return writeError(w, http.StatusServiceUnavailable, "profile store unavailable")
	case err != nil:
		// Redis is erased and the identifiers suppressed; a later step
		// failed. Repeating the request finishes it.
		a.log.Error("forget incomplete", "profile_id", rep.ProfileID, "err", err)
		return writeError(w, http.StatusServiceUnavailable, "profile "+rep.ProfileID+" erased from the profile store, but not yet everywhere: "+
			"repeat the request to finish ("+err.Error()+")")
	case !rep.Complete:
		return writeJSON(w, http.StatusAccepted, rep)
	}
	return writeJSON(w, http.StatusOK, rep)
}

// getExport returns all data held on the person {ref} names.
func (a *API) getExport(w http.ResponseWriter, r *http.Request, tenant string) int {
	if a.privacy == nil {
		return writeError(w, http.StatusNotImplemented, "export is not enabled on this server")
	}
	ref := r.PathValue("ref")
	exp, err := a.privacy.Export(r.Context(), tenant, ref)
	switch {
	case errors.Is(err, redisstore.ErrNotFound):
		return writeError(w, http.StatusNotFound, "no profile for "+strconv.Quote(ref))
	case errors.Is(err, redisstore.ErrBadRef):
		return writeError(w, http.StatusBadRequest, err.Error())
	case err != nil:
		a.log.Error("export", "err", err)
		return writeError(w, http.StatusServiceUnavailable, "profile or timeline store unavailable")
	}
	return writeJSON(w, http.StatusOK, exp)
}
