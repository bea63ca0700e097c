module goperf.invalid/loadworker

go 1.22
