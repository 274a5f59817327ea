# doc/: man pages (the client protocol is doc/protocol.md).
dist_man5_MANS += %D%/plugins.conf.5
dist_man1_MANS += %D%/hearth.1
EXTRA_DIST += %D%/protocol.md

# issue 11 (cli): the daemon's page.
dist_man8_MANS += %D%/hearthd.8
