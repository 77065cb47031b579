#!/bin/sh
# kaconsole3 stand-in: a console that wants root/grid5000, then echoes each command line after a prompt.
node="$1"
echo "Connection to console $node opened"
stty -echo 2>/dev/null
# the client sends ^D, newline, ^D, newline: on a terminal, two end-of-files and two empty lines
for i in 1 2 3 4; do read -r ignored; done
printf "Debian GNU/Linux 12 %s ttyS0\n\n%s login: " "${node%%.*}" "${node%%.*}"
read -r user
printf "Password: "
read -r password
if [ "$user" != root ] || [ "$password" != grid5000 ]; then echo "Login incorrect"; exit 1; fi
while :; do
  printf "root@%s:~# " "${node%%.*}"
  read -r cmd || exit 0
  case "$cmd" in *"&."*) echo "[console closed]"; exit 0 ;; esac
  sh -c "$cmd"
done
