package sqlite

import (
	"database/sql"
	"sync"
	"time"
)

// SQLite folds the WAL back into the database file (a checkpoint) inside
// whichever commit crosses wal_autocheckpoint: the writer's, with the page
// copies and the database file's fsync on the ingest path. drainwatch turns
// that off on the writer's connection and checkpoints from a connection of
// its own instead, in the background, so that no acknowledgement waits for
// a checkpoint.

// checkpointEvery is how often the background checkpoint runs.
const checkpointEvery = time.Second

// walRestartFrames is the WAL length (in 4 KiB pages) beyond which a
// checkpoint also makes the writer start the WAL over (RESTART), briefly
// holding the writer back; below it checkpoints never wait for anybody
// (PASSIVE), and the WAL starts over by itself whenever it was wholly copied.
const walRestartFrames = 8192

type checkpointer struct {
	db   *sql.DB
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func startCheckpointer(dsn string) (*checkpointer, error) {
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	c := &checkpointer{db: db, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c, nil
}

func (c *checkpointer) run() {
	defer close(c.done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		// Errors (SQLITE_BUSY while another checkpoint runs, a full disk)
		// only delay the checkpoint to the next tick.
		var busy, frames, copied int
		if c.db.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied) != nil {
			continue
		}
		if frames >= walRestartFrames {
			c.db.Exec("PRAGMA wal_checkpoint(RESTART)")
		}
	}
}

func (c *checkpointer) close() error {
	c.once.Do(func() { close(c.stop) })
	<-c.done
	return c.db.Close()
}
