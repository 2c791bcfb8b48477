//go:build !unix

package lockfile

import "os"

func tryLock(f *os.File) (held bool, err error) { return false, ErrUnsupported }
