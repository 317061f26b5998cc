package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/mongostash/mongostash/retention"
)

func (c *pruneCmd) policy() (retention.Policy, error) {
	p := retention.Policy{
		MaxAge: c.MaxAge.d(), KeepLast: c.KeepLast, KeepHourly: c.KeepHourly, KeepDaily: c.KeepDaily,
		KeepWeekly: c.KeepWeekly, KeepMonthly: c.KeepMonthly, KeepYearly: c.KeepYearly,
		KeepWithin: c.KeepWithin.d(), MinKeep: c.MinKeep, Grace: c.Grace.d(),
	}
	if err := p.Validate(); err != nil {
		return p, usageError{err}
	}
	return p, nil
}

// seconds is a duration given as whole seconds (the seed's S3_BACKUP_MAX_AGE=2592000) or
// as a Go duration ("720h").
type seconds time.Duration

func (s *seconds) UnmarshalText(b []byte) error {
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		*s = seconds(time.Duration(n) * time.Second)
		return nil
	}
	d, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is neither a number of seconds nor a duration like 720h", b)
	}
	*s = seconds(d)
	return nil
}

func (s seconds) d() time.Duration { return time.Duration(s) }

// staleness is --max-staleness: the word max-age (the value of --max-age, kept as -1), or
// seconds or a duration, 0 for off.
type staleness time.Duration

func (s *staleness) UnmarshalText(b []byte) error {
	if string(b) == "max-age" {
		*s = -1
		return nil
	}
	var d seconds
	if err := d.UnmarshalText(b); err != nil || d < 0 {
		return fmt.Errorf("%q is not max-age, 0 (off), a number of seconds or a duration like 48h", b)
	}
	*s = staleness(d)
	return nil
}
