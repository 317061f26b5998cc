// Package deploy holds what runs mongostash elsewhere — the Kubernetes manifests in
// kubernetes/ (kubernetes/restore/ apart, applied only for a restore) and the crontab —
// and, in its tests, the checks that keep them deployable: every manifest valid against
// the Kubernetes schemas (kubeconform, offline, with the pinned schemas in testdata/), every
// pod within Pod Security's "restricted" profile, and the rest of what a first deployment
// should not have to discover (resources, /tmp, CronJob settings, the image in one place).
package deploy
