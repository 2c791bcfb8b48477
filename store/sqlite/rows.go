package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/drainwatch/drainwatch/store"
)

// queryer is what rows are read from: the read pool, the write connection,
// or a transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// eachRow runs query and calls scan with each row; errors, scan's too, come
// back as "what: …".
func eachRow(ctx context.Context, q queryer, what, query string, args []any, scan func(*sql.Rows) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// collect runs query and returns a T a row, each made by scan; an empty
// slice, not nil, when there is none (JSON answers []).
func collect[T any](ctx context.Context, q queryer, what, query string, args []any, scan func(*sql.Rows) (T, error)) ([]T, error) {
	out := []T{}
	err := eachRow(ctx, q, what, query, args, func(r *sql.Rows) error {
		v, err := scan(r)
		if err == nil {
			out = append(out, v)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// micros is a stored time (Unix microseconds) as a UTC time.
func micros(t int64) time.Time { return time.UnixMicro(t).UTC() }

// conds builds a WHERE clause: conditions joined by AND, and their
// arguments in order.
type conds struct {
	list []string
	args []any
}

// add adds a condition and its arguments.
func (c *conds) add(cond string, args ...any) *conds {
	c.list = append(c.list, cond)
	c.args = append(c.args, args...)
	return c
}

// match adds an app, a dyno (each when not empty) and a range [from, to)
// of column col (each end when not zero).
func (c *conds) match(app, dyno, col string, from, to time.Time) *conds {
	if app != "" {
		c.add("app = ?", app)
	}
	if dyno != "" {
		c.add("dyno = ?", dyno)
	}
	if !from.IsZero() {
		c.add(col+" >= ?", from.UnixMicro())
	}
	if !to.IsZero() {
		c.add(col+" < ?", to.UnixMicro())
	}
	return c
}

// filter adds f's app, dyno and time range (column "time").
func (c *conds) filter(f store.Filter) *conds {
	return c.match(f.App, f.Dyno, "time", f.Since, f.Until)
}

// where is " WHERE …", or "" when there is no condition.
func (c *conds) where() string {
	if len(c.list) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(c.list, " AND ")
}

// whereClause is the WHERE clause of f (app, dyno, time range) and its
// arguments.
func whereClause(f store.Filter) (string, []any) {
	c := new(conds).filter(f)
	return c.where(), c.args
}
