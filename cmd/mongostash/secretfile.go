package main

import (
	"os"
	"strings"
)

// resolveFile fills *v from the file named by $<env>_FILE when *v is empty, the
// convention of Docker and Kubernetes secrets. The caller registers the value as a secret.
func resolveFile(a *app, v *string, env string) error {
	if *v == "" {
		if path, _ := a.env(env + "_FILE"); path != "" {
			b, err := os.ReadFile(path)
			if err != nil {
				return usagef("%s_FILE: %v", env, err)
			}
			*v = strings.TrimRight(string(b), "\r\n")
		}
	}
	return nil
}
