package gcs

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/mongostash/mongostash/storage/internal/stall"
)

var errDone = iterator.Done

// explain wraps the service's answer with the sentinel it stands for and what to do,
// keeping the service's own words.
func explain(err error) error {
	var ge *googleapi.Error
	switch {
	case errors.Is(err, storage.ErrBucketNotExist):
		return fmt.Errorf("%w: create it first, or check the bucket name (%v)", ErrNoSuchBucket, err)
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

// serviceWords is the service's own account of a failed request: its status, reason and
// message.
func serviceWords(ge *googleapi.Error) string {
	words := fmt.Sprintf("the service answered %d", ge.Code)
	if r := reason(ge); r != "" {
		words += " " + r
	}
	if ge.Message != "" {
		words += ": " + ge.Message
	}
	return words
}

func reason(ge *googleapi.Error) string {
	if len(ge.Errors) > 0 {
		return ge.Errors[0].Reason
	}
	return ""
}

// heldRefusal reports the service's refusal to delete or replace an object under a
// retention or a hold (403 retentionPolicyNotMet, or a message naming the hold).
func heldRefusal(ge *googleapi.Error) bool {
	if ge.Code != http.StatusForbidden {
		return false
	}
	text := strings.ToLower(reason(ge) + " " + ge.Message)
	return strings.Contains(text, "retention") || strings.Contains(text, "hold")
}

func statusOf(err error) int {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	return 0
}
