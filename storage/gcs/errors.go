package gcs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"golang.org/x/oauth2"

	"github.com/mongostash/mongostash/storage/internal/stall"
)

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// apiError is an answer of the JSON API with a status of 400 or more: its status and the
// parts of its error body (https://cloud.google.com/storage/docs/json_api/v1/status-codes)
// that say what went wrong.
type apiError struct {
	Code    int
	Message string
	Reasons []string // error.errors[].reason
}

func (e *apiError) Error() string { return serviceWords(e) }

// parseError reads the error answer resp (status and body; the body is not closed). A
// body that is not the JSON API's error object is kept as its first line as the message.
func parseError(resp *http.Response) *apiError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return parseErrorBody(resp.StatusCode, b)
}

func parseErrorBody(status int, b []byte) *apiError {
	e := &apiError{Code: status}
	var body struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Errors  []struct {
				Reason  string `json:"reason"`
				Message string `json:"message"`
			} `json:"errors"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &body); err == nil {
		e.Message = body.Error.Message
		for _, d := range body.Error.Errors {
			if d.Reason != "" {
				e.Reasons = append(e.Reasons, d.Reason)
			}
			if e.Message == "" {
				e.Message = d.Message
			}
		}
		return e
	}
	// Not JSON: a proxy's page, the XML of a ranged read, plain text.
	text, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	e.Message = strings.TrimSpace(text)
	return e
}

// explain wraps the service's answer with the sentinel it stands for and what to do,
// keeping the service's own words.
func explain(err error) error {
	var ge *apiError
	switch {
	case errors.Is(err, ErrNoSuchBucket), errors.Is(err, ErrAuthentication), errors.Is(err, ErrAccessDenied):
		return err // explained already
	case errors.As(err, &ge) && ge.Code == http.StatusNotFound && strings.Contains(strings.ToLower(ge.Message), "bucket"):
		return fmt.Errorf("%w: create it first, or check the bucket name (%s)", ErrNoSuchBucket, serviceWords(ge))
	case errors.As(err, &ge) && ge.Code == http.StatusUnauthorized:
		return fmt.Errorf("%w: check GOOGLE_APPLICATION_CREDENTIALS or the workload identity binding (%s)", ErrAuthentication, serviceWords(ge))
	case errors.As(err, &ge) && ge.Code == http.StatusForbidden && !heldRefusal(ge):
		return fmt.Errorf("%w: the service account needs roles/storage.objectUser on the bucket (%s)", ErrAccessDenied, serviceWords(ge))
	case errors.Is(err, stall.ErrStalled):
		return fmt.Errorf("%w; check the endpoint and the network (a proxy, a firewall)", err)
	case strings.Contains(err.Error(), "could not find default credentials") || strings.Contains(err.Error(), "oauth2"):
		return fmt.Errorf("%w: %w: set GOOGLE_APPLICATION_CREDENTIALS, use workload identity, or run gcloud auth application-default login", ErrAuthentication, err)
	}
	return err
}

// noSuchBucket turns a 404 of a request that names no object (a listing, an upload) into
// ErrNoSuchBucket: the bucket is all it needs.
func noSuchBucket(err error) error {
	if statusOf(err) == http.StatusNotFound && !errors.Is(err, ErrNoSuchBucket) {
		return fmt.Errorf("%w: create it first, or check the bucket name (%w)", ErrNoSuchBucket, err)
	}
	return err
}

// serviceWords is the service's own account of a failed request: its status, reason and
// message.
func serviceWords(ge *apiError) string {
	words := fmt.Sprintf("the service answered %d", ge.Code)
	if r := reason(ge); r != "" {
		words += " " + r
	}
	if ge.Message != "" {
		words += ": " + ge.Message
	}
	return words
}

func reason(ge *apiError) string {
	if len(ge.Reasons) > 0 {
		return ge.Reasons[0]
	}
	return ""
}

// heldRefusal reports the service's refusal to delete or replace an object under a
// retention or a hold (403 retentionPolicyNotMet, or a message naming the hold).
func heldRefusal(ge *apiError) bool {
	if ge.Code != http.StatusForbidden {
		return false
	}
	text := strings.ToLower(reason(ge) + " " + ge.Message)
	return strings.Contains(text, "retention") || strings.Contains(text, "hold")
}

// statusOf is the status of the service's answer err carries, or 0.
func statusOf(err error) int {
	var ge *apiError
	if errors.As(err, &ge) {
		return ge.Code
	}
	return 0
}

// retryable reports whether a failed attempt is worth another: throttling (429), a
// timeout (408) or a server error (5xx) of the service, a connection that broke or could
// not be made, a stall — never one the stall limit gave up on, nor a cancellation.
func retryable(err error) bool {
	if err == nil || stall.IsGaveUp(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ge *apiError
	if errors.As(err, &ge) {
		return retryableStatus(ge.Code)
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) { // the token endpoint's own answer
		return re.Response != nil && retryableStatus(re.Response.StatusCode)
	}
	var ne net.Error
	switch {
	case errors.Is(err, stall.ErrStalled),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, net.ErrClosed),
		errors.As(err, &ne) && ne.Timeout():
		return true
	}
	// The HTTP/2 transport's own words for a connection that went away.
	msg := err.Error()
	return strings.Contains(msg, "http2: server sent GOAWAY") || strings.Contains(msg, "connection reset") ||
		strings.Contains(msg, "http2: client connection lost") || strings.Contains(msg, "stream error")
}

func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}
