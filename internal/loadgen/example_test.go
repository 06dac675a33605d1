package loadgen_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/fhirkit/smart/internal/loadgen"
)

func ExampleRun() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("token") == "" {
			http.Error(w, "no token", http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	client := loadgen.Client(4)

	// A refusal the test expects is not an error; any other answer is.
	report, err := loadgen.Run(context.Background(), loadgen.Config{Duration: 100 * time.Millisecond, Concurrency: 4},
		func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			_, err = loadgen.Read(resp, http.StatusUnauthorized)
			return err
		})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("ran:", report.Requests > 0)
	fmt.Println("errors:", report.ErrorCount())
	fmt.Println("p50 <= p99:", report.P50 <= report.P99)
	// Output:
	// ran: true
	// errors: 0
	// p50 <= p99: true
}
