module example.com/deepstack

go 1.21
