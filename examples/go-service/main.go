// go-service: a small pure-Go HTTP service that crashes on request, for recording Go
// programs with rewind (attach and launch).
//
//	GET /        a counter, the time, and checksums computed by two goroutines
//	             (allocation, goroutines, a clock read)
//	GET /spin    computes for ?ms=N milliseconds (default 50) without a function call
//	             in its loop: the runtime preempts it with SIGURG
//	GET /health  "ok"
//	GET /crash   answers "This will crash!"; 1 s later a goroutine dereferences a nil
//	             pointer (a Go panic: the runtime's SIGSEGV handler, exit status 2)
//
// Usage: go-service [-port N] (default 8081; 0 picks a free port, printed on stdout).
package main

import (
	"flag"
	"fmt"
	"hash/crc32"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type job struct {
	name  string
	owner *string
}

var requests atomic.Int64

// work checksums n KiB of bytes derived from the request's time: allocation and CPU.
func work(n int, seed int64) uint32 {
	buf := make([]byte, n*1024)
	for i := range buf {
		buf[i] = byte(int64(i) ^ seed)
	}
	return crc32.ChecksumIEEE(buf)
}

func index(w http.ResponseWriter, r *http.Request) {
	count := requests.Add(1)
	now := time.Now()
	var wg sync.WaitGroup
	sums := make([]uint32, 2)
	for i := range sums {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sums[i] = work(4+i, now.UnixNano())
		}(i)
	}
	wg.Wait()
	fmt.Fprintf(w, "hello from go-service: request %d at %s, work %08x%08x\n", count,
		now.UTC().Format(time.RFC3339Nano), sums[0], sums[1])
}

func spin(w http.ResponseWriter, r *http.Request) {
	ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
	if err != nil || ms <= 0 {
		ms = 50
	}
	deadline := time.Now().Add(time.Duration(ms) * time.Millisecond)
	x := uint64(1)
	for rounds := 0; ; rounds++ {
		for i := 0; i < 100000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(w, "spun %d rounds, %016x\n", rounds+1, x)
			return
		}
	}
}

func ownerLength(j *job) int {
	return len(*j.owner) // j.owner is nil for the crash job: SIGSEGV, a Go panic
}

func crash(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintln(w, "This will crash!")
	go func() {
		time.Sleep(time.Second)
		j := &job{name: "report"}
		fmt.Println("owner length", ownerLength(j))
	}()
}

func main() {
	port := flag.Int("port", 8081, "TCP port to listen on (0 picks a free one)")
	flag.Parse()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintf(os.Stderr, "go-service: cannot listen on port %d: %v\n", *port, err)
		os.Exit(1)
	}
	fmt.Printf("go-service listening on port %d\n", ln.Addr().(*net.TCPAddr).Port)
	http.HandleFunc("/", index)
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	http.HandleFunc("/crash", crash)
	http.HandleFunc("/spin", spin)
	if err := http.Serve(ln, nil); err != nil {
		fmt.Fprintf(os.Stderr, "go-service: %v\n", err)
		os.Exit(1)
	}
}
