// Command etcd runs a single-member etcd for the test control plane, embedded through
// go.etcd.io/etcd/server/v3/embed at the version kube-apiserver itself is built against.
//
//	etcd --data-dir DIR --listen-client-url http://127.0.0.1:0 --port-file FILE
//
// With port 0 the kernel picks free ports; the chosen client URL is written to
// --port-file once etcd serves, so the caller never races another process for a port.
package main

import (
	"flag"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

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
	cu, err := url.Parse(*clientURL)
	if err != nil {
		log.Fatalf("etcd: bad --listen-client-url: %v", err)
	}
	pu, err := url.Parse(*peerURL)
	if err != nil {
		log.Fatalf("etcd: bad --listen-peer-url: %v", err)
	}
	cfg.ListenClientUrls = []url.URL{*cu}
	cfg.AdvertiseClientUrls = []url.URL{*cu}
	cfg.ListenPeerUrls = []url.URL{*pu}
	cfg.AdvertisePeerUrls = []url.URL{*pu}
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
