package sqlite

import (
	"os"
	"syscall"
)

// syncData makes f's data durable. On Linux that is fdatasync, as SQLite
// does for its WAL: it skips the inode's timestamps, which would otherwise
// make every sync of the WAL commit the file system's journal.
func syncData(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}
