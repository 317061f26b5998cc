package main

import (
	"context"
	"fmt"
	"io"

	"github.com/mongostash/mongostash/dump"
)

// mongorestore pipes the decompressed archive into the external mongorestore with the
// same scope and flags.
func (c *restoreCmd) mongorestore(ctx context.Context, a *app, plain io.Reader, name string) error {
	args := dump.MongorestoreArgs{
		NsInclude: c.NsInclude, NsExclude: c.NsExclude, NsFrom: c.NsFrom, NsTo: c.NsTo,
		Drop: c.Drop, DryRun: c.DryRun, NoIndexRestore: c.NoIndexRestore, Bypass: c.Bypass,
		StopOnError: c.StopOnError, OplogReplay: c.OplogReplay == "true", PreserveUUID: c.PreserveUUID,
		DBUsersAndRoles: c.UsersAndRoles && c.Mongo.Database != "", Workers: c.Workers,
	}
	limit, err := c.oplogLimit()
	if err != nil {
		return err
	}
	args.OplogLimit = limit
	if c.Mongo.Database != "" {
		// MONGO_DATABASE scopes the restore as the seed's --nsInclude=<db>.* did.
		args.NsInclude = append([]string{escapePattern(c.Mongo.Database) + ".*"}, c.NsInclude...)
	}
	opts := dump.ToolOptions{Path: c.MongorestorePath, URI: c.Mongo.MongoURL, Stderr: a.stderr}
	if err := dump.RunMongorestore(ctx, plain, opts, args); err != nil {
		return fmt.Errorf("restore %s: %w", name, withHint(err))
	}
	a.log.Info("restore complete (mongorestore)", "source", name)
	return nil
}
