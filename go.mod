module github.com/drainwatch/drainwatch

go 1.26.8

require github.com/heroku/x v0.5.3

require (
	github.com/mattn/go-sqlite3 v1.14.53 // indirect
	github.com/pkg/errors v0.9.1 // indirect
)
