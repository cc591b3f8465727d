module rewind.dev/examples/go-service

go 1.19
