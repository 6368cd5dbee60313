// hello-http: the smallest useful HTTP server, used by up.sh to prove that a pod
// pulled from the local registry runs and is reachable at its pod IP.
// It listens on $PORT (default 8080) and answers every request with its hostname.
//
// GET /fetch?url=URL makes the pod itself fetch URL and returns what it got (or
// the error, with status 502), so tests can check pod-to-pod, pod-to-service and
// NetworkPolicy paths without a shell in the image. https URLs are fetched without
// certificate checks (the point is reachability, e.g. of https://kubernetes.default).
package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	host, _ := os.Hostname()
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	http.HandleFunc("/fetch", func(w http.ResponseWriter, r *http.Request) {
		resp, err := client.Get(r.URL.Query().Get("url"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		fmt.Fprintf(w, "%d %s", resp.StatusCode, body)
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", host)
	})
	log.Printf("listening on :%s", port)
	log.Fatal(http.ListenAndServe(":"+port, nil))
}
