package azblob

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/internal/stall"
)

// explain wraps the service's answer with the sentinel it stands for and what to do,
// keeping the service's own error code and message.
func explain(err error) error {
	var re *azcore.ResponseError
	switch {
	case bloberror.HasCode(err, bloberror.ContainerNotFound, bloberror.ContainerBeingDeleted):
		return fmt.Errorf("%w: create it first, or check the container name and the account (%s)", ErrNoSuchContainer, serviceWords(err))
	case bloberror.HasCode(err, bloberror.AuthenticationFailed, bloberror.InvalidAuthenticationInfo, bloberror.NoAuthenticationInformation),
		// Azurite says AuthorizationFailure where Azure says AuthenticationFailed; the
		// message tells a bad signature from a missing permission.
		bloberror.HasCode(err, bloberror.AuthorizationFailure) && strings.Contains(serviceWords(err), "failed to authenticate"):
		return fmt.Errorf("%w: check the account name and its key, SAS token or connection string (%s)", ErrAuthentication, serviceWords(err))
	case bloberror.HasCode(err, bloberror.AuthorizationPermissionMismatch, bloberror.AuthorizationFailure,
		bloberror.AuthorizationResourceTypeMismatch, bloberror.AuthorizationServiceMismatch, bloberror.InsufficientAccountPermissions):
		return fmt.Errorf("%w: the identity needs the role Storage Blob Data Contributor on the container (a SAS: read, add, create, write, delete, list) (%s)", ErrAccessDenied, serviceWords(err))
	case errors.As(err, &re) && re.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: check the credentials and their permissions on the container (%s)", ErrAccessDenied, serviceWords(err))
	case errors.As(err, &re) && re.StatusCode == http.StatusNotFound && re.ErrorCode == "":
		// A HEAD has no body to carry the code: a missing container answers 404 alone.
		return fmt.Errorf("%w: create it first, or check the container name and the account (%s)", ErrNoSuchContainer, serviceWords(err))
	case errors.Is(err, stall.ErrStalled):
		return fmt.Errorf("%w; check the endpoint and the network (a proxy, a firewall)", err)
	}
	return err
}

// serviceWords is the service's own account of a failed request: its status, its error
// code and the first line of its message, without the SDK's dump of the request.
func serviceWords(err error) string {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return err.Error()
	}
	words := fmt.Sprintf("the service answered %d", re.StatusCode)
	if re.ErrorCode != "" {
		words += " " + re.ErrorCode
	}
	if msg := responseMessage(re); msg != "" {
		words += ": " + msg
	}
	return words
}

// responseMessage picks the Message line out of the SDK's error text.
func responseMessage(re *azcore.ResponseError) string {
	for _, line := range strings.Split(re.Error(), "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "<Message>"); ok {
			msg, _, _ := strings.Cut(rest, "</Message>")
			msg, _, _ = strings.Cut(msg, "\n")
			return strings.TrimSpace(msg)
		}
	}
	return ""
}

// short is the error as the package reports it: the service's words for a response
// error (the SDK's text also holds the request's URL and headers), the error itself
// otherwise.
func short(err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return &serviceError{err: err}
	}
	return err
}

// serviceError prints only the service's words and unwraps to the SDK's error.
type serviceError struct{ err error }

func (e *serviceError) Error() string { return serviceWords(e.err) }
func (e *serviceError) Unwrap() error { return e.err }

func statusOf(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// redactURL drops user information and the query (a SAS) from a URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	if u.User != nil {
		u.User = url.User("***")
	}
	if u.RawQuery != "" {
		u.RawQuery = "***"
	}
	return u.String()
}

func redactorFor(cfg Config) *storage.Redactor {
	var secrets []string
	secrets = append(secrets, cfg.Key, cfg.ConnectionString, cfg.SASToken, strings.TrimPrefix(cfg.SASToken, "?"))
	for _, part := range strings.Split(cfg.ConnectionString, ";") {
		if k, v, ok := strings.Cut(part, "="); ok && (strings.EqualFold(k, "AccountKey") || strings.EqualFold(k, "SharedAccessSignature")) {
			secrets = append(secrets, v, url.QueryEscape(v))
		}
	}
	if q, err := url.ParseQuery(strings.TrimPrefix(cfg.SASToken, "?")); err == nil && q.Get("sig") != "" {
		secrets = append(secrets, q.Get("sig"), url.QueryEscape(q.Get("sig")))
	}
	return storage.NewRedactor(secrets...)
}

func (s *Store) redact(err error) error { return s.redactor.Redact(err) }
