package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/prometheus/promql"
)

// replies writes the API's answers in Prometheus' JSON shape: success
// with data, or an error typed as Prometheus types it (classify), with
// Retry-After from the admitter when the query slots were full. Every
// part of the API that answers holds one.
type replies struct {
	adm *admitter // its Retry-After for ErrOverloaded
}

type apiError struct {
	status int
	typ    string
	err    error
}

func (e *apiError) Error() string { return e.err.Error() }

func badData(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "bad_data", fmt.Errorf(format, args...)}
}

func (rp replies) ok(w http.ResponseWriter, data any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": data})
}

func (rp replies) fail(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = classify(err)
	}
	if errors.Is(err, ErrOverloaded) {
		w.Header().Set("Retry-After", rp.adm.retryAfter())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ae.status)
	json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorType": ae.typ, "error": ae.err.Error()})
}

// classify maps query execution errors to Prometheus' error types.
func classify(err error) *apiError {
	var (
		timeout  promql.ErrQueryTimeout
		canceled promql.ErrQueryCanceled
		tooMany  promql.ErrTooManySamples
	)
	switch {
	case errors.Is(err, ErrOverloaded):
		return &apiError{http.StatusServiceUnavailable, "unavailable", err}
	case errors.Is(err, ErrSampleBudget):
		return &apiError{http.StatusUnprocessableEntity, "execution", err}
	case errors.As(err, &timeout), errors.Is(err, context.DeadlineExceeded):
		return &apiError{http.StatusServiceUnavailable, "timeout", err}
	case errors.As(err, &canceled), errors.Is(err, context.Canceled):
		return &apiError{http.StatusServiceUnavailable, "canceled", err}
	case errors.As(err, &tooMany), errors.Is(err, ErrTooManySeries):
		return &apiError{http.StatusUnprocessableEntity, "execution", err}
	}
	var se promql.ErrStorage
	if errors.As(err, &se) {
		return &apiError{http.StatusInternalServerError, "internal", err}
	}
	return &apiError{http.StatusUnprocessableEntity, "execution", err}
}
