#!/usr/bin/perl
# A fake qemu-system-* for vmstate-check's driver tests (tests/qemu_driver.rs): answers
# --version and -M help, writes a fixture dump for -dump-vmstate, and speaks enough QMP on
# `-qmp unix:PATH,server=on,wait=off` (greeting, qmp_capabilities, migrate, query-migrate,
# query-status, migrate-incoming, cont, quit). Only perl-base modules (Debian: Essential).
#
# Behaviour is set through the environment (the tests pass it with --qemu-env):
#   FAKE_QEMU_VERSION   version number printed by --version            (default 9.9.0)
#   FAKE_QEMU_MACHINES  space-separated machine names for -M help       (default below)
#   FAKE_QEMU_DUMP      dump copied by -dump-vmstate (vmschkmachine's Name set to -M's)
#   FAKE_QEMU_DUMP_FOR  space-separated MACHINE=FILE: another dump for those machine types
#   FAKE_QEMU_MODULE_ERROR  a line printed on stderr by -dump-vmstate (a module that failed)
#   FAKE_QEMU_REFUSE    machine name for which -dump-vmstate fails (exit 1)
#   FAKE_QEMU_HANG      "dump": -dump-vmstate never ends; "migrate": migration never completes
#   FAKE_QEMU_STREAM    file written by `migrate exec:cat > FILE`
#   FAKE_QEMU_LOAD      what migrate-incoming does: ok (default) | exit (error line, exit 1)
#                       | stay (query-migrate says failed, run state stays inmigrate, as 10.0)
#   FAKE_QEMU_PIDFILE   each started process appends its PID here
use strict;
use warnings;
use IO::Socket::UNIX;

my @argv = @ARGV;
if (my $pf = $ENV{FAKE_QEMU_PIDFILE}) {
    open(my $p, '>>', $pf) or die; print $p "$$\n"; close $p;
}
my %opt;
for (my $i = 0; $i < @argv; $i++) {
    my $a = $argv[$i];
    if ($a =~ /^-(M|machine|dump-vmstate|qmp|incoming|m|bios|display)$/) { $opt{$1} = $argv[++$i]; }
    elsif ($a eq '--version') { $opt{version} = 1; }
    elsif ($a eq '-S') { $opt{S} = 1; }
}

if ($opt{version}) {
    my $v = $ENV{FAKE_QEMU_VERSION} // '9.9.0';
    print "QEMU emulator version $v (fake)\nCopyright (c) nobody\n";
    exit 0;
}
my @machines = split ' ', ($ENV{FAKE_QEMU_MACHINES} // 'pc-q35-7.2 pc-i440fx-7.2 pc-q35-9.9 isapc');
if (defined $opt{M} && $opt{M} eq 'help') {
    print "Supported machines are:\n";
    printf "%-20s %s\n", 'pc', 'Standard PC (alias of pc-i440fx-7.2)';
    printf "%-20s %s\n", $_, 'Fake PC' for @machines;
    printf "%-20s %s\n", 'none', 'empty machine';
    exit 0;
}
if (defined $opt{'dump-vmstate'}) {
    my $m = $opt{M} // '';
    if (!grep { $_ eq $m } @machines) {
        print STDERR "qemu-system-x86_64: unsupported machine type: \"$m\"\n"; exit 1;
    }
    if (($ENV{FAKE_QEMU_REFUSE} // '') eq $m) {
        print STDERR "qemu-system-x86_64: machine $m refuses\n"; exit 1;
    }
    if (($ENV{FAKE_QEMU_HANG} // '') eq 'dump') { sleep 1 while 1; }
    print STDERR "$ENV{FAKE_QEMU_MODULE_ERROR}\n" if $ENV{FAKE_QEMU_MODULE_ERROR};
    my $dump = $ENV{FAKE_QEMU_DUMP};
    for my $pair (split ' ', ($ENV{FAKE_QEMU_DUMP_FOR} // '')) {
        my ($for, $file) = split /=/, $pair, 2;
        $dump = $file if $for eq $m;
    }
    open(my $in, '<', $dump) or die "FAKE_QEMU_DUMP: $dump: $!";
    local $/; my $text = <$in>; close $in;
    $text =~ s/("vmschkmachine":\s*\{\s*"Name":\s*")[^"]*"/$1$m"/;
    open(my $out, '>', $opt{'dump-vmstate'}) or die "$opt{'dump-vmstate'}: $!";
    print $out $text; close $out;
    exit 0;
}
die "fake-qemu: no -qmp\n" unless defined $opt{qmp};
my ($path) = $opt{qmp} =~ /^unix:([^,]+)/ or die "fake-qemu: -qmp $opt{qmp}\n";
unlink $path;
my $server = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => $path, Listen => 1)
    or die "fake-qemu: $path: $!";
my $c = $server->accept() or die;
$c->autoflush(1);
print $c '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 9, "major": 9}, "package": "fake"}, "capabilities": ["oob"]}}' . "\n";

my $incoming = defined $opt{incoming};
my $run = $incoming ? 'inmigrate' : ($opt{S} ? 'prelaunch' : 'running');
my $mig = 'none';
my $load = $ENV{FAKE_QEMU_LOAD} // 'ok';
sub reply { my ($id, $body) = @_; print $c "{$body, \"id\": $id}\n"; }
while (my $line = <$c>) {
    my ($cmd) = $line =~ /"execute"\s*:\s*"([^"]+)"/;
    my ($id) = $line =~ /"id"\s*:\s*(\d+)/;
    $id //= 0;
    $cmd //= '';
    if ($cmd eq 'qmp_capabilities' || $cmd eq 'cont') {
        $run = 'running' if $cmd eq 'cont';
        reply($id, '"return": {}');
    } elsif ($cmd eq 'migrate' && !defined $ENV{FAKE_QEMU_STREAM}) {
        reply($id, '"error": {"class": "GenericError", "desc": "fake: no FAKE_QEMU_STREAM to write"}');
    } elsif ($cmd eq 'migrate') {
        my ($file) = $line =~ /"uri"\s*:\s*"exec:cat > ([^"]+)"/;
        open(my $in, '<', $ENV{FAKE_QEMU_STREAM}) or die "FAKE_QEMU_STREAM: $!";
        binmode $in; local $/; my $bytes = <$in>; close $in;
        open(my $out, '>', $file) or die "$file: $!"; binmode $out; print $out $bytes; close $out;
        $mig = (($ENV{FAKE_QEMU_HANG} // '') eq 'migrate') ? 'active' : 'completed';
        $run = 'postmigrate' if $mig eq 'completed';
        print $c '{"timestamp": {"seconds": 1, "microseconds": 0}, "event": "STOP"}' . "\n";
        reply($id, '"return": {}');
    } elsif ($cmd eq 'migrate-incoming') {
        reply($id, '"return": {}');
        if ($load eq 'exit') {
            print STDERR "qemu-system-x86_64: Missing section footer for fake/device\n";
            print STDERR "qemu-system-x86_64: load of migration failed: Invalid argument\n";
            exit 1;
        } elsif ($load eq 'stay') {
            $mig = 'failed';
        } else {
            $mig = 'completed'; $run = $opt{S} ? 'paused' : 'running';
        }
    } elsif ($cmd eq 'query-migrate') {
        if ($mig eq 'failed') {
            reply($id, '"return": {"status": "failed", "error-desc": "load of migration failed: Invalid argument"}');
        } elsif ($mig eq 'none') {
            reply($id, '"return": {}');
        } else {
            reply($id, "\"return\": {\"status\": \"$mig\"}");
        }
    } elsif ($cmd eq 'query-status') {
        reply($id, "\"return\": {\"status\": \"$run\", \"running\": false}");
    } elsif ($cmd eq 'quit') {
        reply($id, '"return": {}');
        exit 0;
    } else {
        reply($id, "\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command $cmd has not been found\"}");
    }
}
exit 0;
