// Command etcd runs a single-member etcd for the test control plane, embedded through
// go.etcd.io/etcd/server/v3/embed at the version kube-apiserver itself is built against.
//
//	etcd --data-dir DIR --listen-client-url http://127.0.0.1:0 --port-file FILE
//
// Port 0 picks a free port (resolved here, before etcd starts, because etcd's JSON
// gateway dials the configured address); the client URL is written to --port-file once
// etcd serves, so the caller learns the port only when it is usable.
package main

import (
	"flag"
	"log"
	"net"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// resolvePort replaces port 0 in raw with a port that is free now.
func resolvePort(raw string) url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		log.Fatalf("etcd: bad URL %q: %v", raw, err)
	}
	if u.Port() != "0" {
		return *u
	}
	l, err := net.Listen("tcp", net.JoinHostPort(u.Hostname(), "0"))
	if err != nil {
		log.Fatalf("etcd: cannot find a free port on %s: %v", u.Hostname(), err)
	}
	u.Host = l.Addr().String()
	l.Close()
	return *u
}

func main() {
	dataDir := flag.String("data-dir", "", "directory for etcd's data (required)")
	clientURL := flag.String("listen-client-url", "http://127.0.0.1:0", "client URL")
	peerURL := flag.String("listen-peer-url", "http://127.0.0.1:0", "peer URL")
	portFile := flag.String("port-file", "", "write the served client URL here when ready")
	flag.Parse()
	if *dataDir == "" {
		log.Fatal("etcd: --data-dir is required")
	}

	cfg := embed.NewConfig()
	cfg.Dir = *dataDir
	cfg.LogLevel = "warn"
	cu := resolvePort(*clientURL)
	pu := resolvePort(*peerURL)
	cfg.ListenClientUrls = []url.URL{cu}
	cfg.AdvertiseClientUrls = []url.URL{cu}
	cfg.ListenPeerUrls = []url.URL{pu}
	cfg.AdvertisePeerUrls = []url.URL{pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		log.Fatalf("etcd: cannot start: %v", err)
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		log.Fatal("etcd: not ready after 60s")
	}
	served := "http://" + e.Clients[0].Addr().String()
	if *portFile != "" {
		tmp := *portFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(served+"\n"), 0o644); err != nil {
			log.Fatalf("etcd: cannot write %s: %v", tmp, err)
		}
		if err := os.Rename(tmp, *portFile); err != nil {
			log.Fatalf("etcd: cannot rename %s: %v", tmp, err)
		}
	}
	log.Printf("etcd: serving clients on %s", served)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case s := <-sig:
		log.Printf("etcd: %v, stopping", s)
	case err := <-e.Err():
		log.Fatalf("etcd: %v", err)
	}
}
