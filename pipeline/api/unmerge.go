package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/redisstore"
)

// unmergeRequest is the body of POST /v1/profiles/{ref}/unmerge.
type unmergeRequest struct {
	// Identifier is "type:value", an identifier of the profile.
	Identifier string `json:"identifier"`
}

// unmergeResponse says where the identifier and the profile stand now.
type unmergeResponse struct {
	// ProfileID is the profile {ref} named.
	ProfileID  string `json:"profile_id"`
	Identifier string `json:"identifier"`
	// IdentifierProfileID is the profile the identifier belongs to now,
	// empty if none (it never anchored an event of its own).
	IdentifierProfileID string `json:"identifier_profile_id"`
	// Records are the identity changes, as published on cx.identity.
	Records []identity.Record `json:"records"`
	// Announced is false if the split was made but could not be published
	// on Kafka; the profiles are published again with their next change.
	Announced bool `json:"announced"`
}

// postUnmerge takes an identifier out of a profile (admin tokens only).
func (a *API) postUnmerge(w http.ResponseWriter, r *http.Request, tenant string) int {
	if tok, _ := r.Context().Value(tokenKey{}).(Token); !tok.Admin {
		return writeError(w, http.StatusForbidden, "unmerge needs an admin token (api.tokens[].admin: true)")
	}
	if a.splitter == nil {
		return writeError(w, http.StatusNotImplemented, "unmerge is not enabled on this server")
	}
	var req unmergeRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return writeError(w, http.StatusBadRequest, "body: must be {\"identifier\": \"type:value\"}: "+err.Error())
	}
	id, ok := event.ParseIdentifier(req.Identifier)
	if !ok {
		return writeError(w, http.StatusBadRequest, "identifier: must be \"type:value\", e.g. \"email:jane@example.com\"")
	}
	pid, _, code := a.resolve(w, r, tenant)
	if code != 0 {
		return code
	}
	sp, err := a.splitter.Unmerge(r.Context(), tenant, pid, id)
	switch {
	case errors.Is(err, redisstore.ErrBadRef):
		return writeError(w, http.StatusBadRequest, "identifier: "+err.Error())
	case errors.Is(err, redisstore.ErrNotFound):
		return writeError(w, http.StatusNotFound, "identifier: no profile holds "+req.Identifier)
	case errors.Is(err, redisstore.ErrNotInProfile), errors.Is(err, redisstore.ErrAlone):
		return writeError(w, http.StatusConflict, "identifier: "+err.Error())
	case errors.Is(err, redisstore.ErrTooLarge):
		return writeError(w, http.StatusUnprocessableEntity, err.Error()+" (redis.rederive_max_edges)")
	case err != nil && sp == nil:
		a.log.Error("unmerge", "err", err)
		return writeError(w, http.StatusServiceUnavailable, "profile store unavailable")
	case err != nil:
		a.log.Error("unmerge made but not announced", "err", err)
	}
	return writeJSON(w, http.StatusOK, unmergeResponse{
		ProfileID: pid, Identifier: req.Identifier, IdentifierProfileID: sp.ProfileID,
		Records: sp.Records, Announced: err == nil,
	})
}
