package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// MongoFlags connect to MongoDB. The seed's variables (MONGO_URL, MONGO_DATABASE) work unchanged.
type MongoFlags struct {
	MongoURL      string        `name:"mongo-url" env:"MONGO_URL" help:"MongoDB connection string (mongodb:// or mongodb+srv://). Also MONGO_URL_FILE."`
	Database      string        `name:"mongo-database" env:"MONGO_DATABASE" help:"Database to back up or restore; empty means every database but local (and config)."`
	ServerTimeout time.Duration `name:"mongo-timeout" env:"MONGO_TIMEOUT" default:"30s" help:"How long to wait for a reachable MongoDB server."`
}

// connect opens a client and checks that the server answers, so a wrong host or wrong
// credentials fail here with a clear message rather than midway.
func (f *MongoFlags) connect(ctx context.Context) (*mongo.Client, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	opts := options.Client().ApplyURI(f.MongoURL).SetServerSelectionTimeout(f.ServerTimeout).SetAppName("mongostash")
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, usagef("MONGO_URL %s: %v", redactURI(f.MongoURL), err)
	}
	pctx, cancel := context.WithTimeout(ctx, f.ServerTimeout+5*time.Second)
	defer cancel()
	if err := client.Ping(pctx, nil); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("connect to MongoDB at %s: %w (check the host, port, credentials and network; waited %s)", hostsOf(f.MongoURL), err, f.ServerTimeout)
	}
	return client, nil
}

// check reads MONGO_URL (or its _FILE), insists on it, and marks its password secret.
func (f *MongoFlags) check() error {
	if err := resolveFile(&f.MongoURL, "MONGO_URL"); err != nil {
		return err
	}
	if f.MongoURL == "" {
		return usagef("no MongoDB server given: set MONGO_URL or --mongo-url (e.g. mongodb://user:password@host:27017)")
	}
	registerURLSecrets(f.MongoURL)
	return nil
}

// registerURLSecrets marks the password of a connection string as secret, so that it is
// redacted even where it appears outside a URL.
func registerURLSecrets(raw string) {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			registerSecret(p)
		}
	}
	// mongodb:// URIs with several hosts do not parse as URLs; cut the userinfo by hand.
	if i := strings.Index(raw, "://"); i >= 0 {
		rest := raw[i+3:]
		if at := strings.LastIndex(strings.SplitN(rest, "/", 2)[0], "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				registerSecret(pw)
			}
		}
	}
}

// hostsOf names the server part of a connection string, without credentials.
func hostsOf(raw string) string {
	s := redactURI(raw)
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if at := strings.LastIndex(strings.SplitN(s, "/", 2)[0], "@"); at >= 0 {
		s = s[at+1:]
	}
	if i := strings.IndexAny(s, "/?"); i >= 0 {
		s = s[:i]
	}
	return s
}
