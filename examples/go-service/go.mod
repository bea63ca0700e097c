module example.com/goperf-demo

go 1.21
