package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/drainwatch/drainwatch/parser"
)

// runSink is `drainwatch-bench sink`, the ceiling the bench compares
// drainwatch with: a server that reads each body and counts its frames, and
// stores nothing.
func runSink(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sink", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	var pool sync.Pool
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf, _ := pool.Get().(*bytes.Buffer)
		if buf == nil {
			buf = new(bytes.Buffer)
		}
		buf.Reset()
		buf.ReadFrom(r.Body)
		f := parser.NewFramer(buf.Bytes(), 0)
		n := 0
		for !f.Done() {
			if fr, err := f.Next(); err == nil && fr != nil {
				n++
			}
		}
		pool.Put(buf)
		fmt.Fprintf(w, "ok frames=%d\n", n)
	})}
	fmt.Fprintf(stdout, "at=info msg=\"sink listening\" addr=%s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
