# Cases for tests/parity/run.sh: one shell line each, run against dockerd and berth.
# Lines starting with @ are setup (run on both sides, not compared).

# --- lifecycle basics and errors
docker run --network none --name c1 bb echo hello
docker run --network none --name c1 bb echo again
docker run --network none bb sh -c 'exit 3'
docker run --network none bb nosuchcmd
docker run --network none bb /etc/passwd
docker run --network none nosuchimage:latest true
docker run --network none --rm bb true; echo rc=$?
docker start -a c1
docker ps -a --format '{{.Status}} {{.Command}} {{.Image}}'
docker ps -a --format 'table {{.Image}}\t{{.Ports}}'
docker ps -a --filter status=exited --format '{{.Command}}'
docker ps -a --filter name=c1 -q | wc -l
docker ps --filter status=bogus
docker ps --filter bogus=1
docker inspect nosuch
docker inspect -f '{{.State.Status}} {{.State.ExitCode}} {{.State.Running}} {{.State.Paused}} {{.State.Restarting}} {{.State.OOMKilled}} {{.State.Dead}} {{.State.Pid}} {{.State.Error}}' c1
docker inspect -f '{{.Name}} {{.Path}} {{.Args}} {{.RestartCount}} {{.Driver}} {{.Platform}} {{.MountLabel}} {{.ProcessLabel}} {{.AppArmorProfile}}' c1
docker inspect -f '{{.Config.Image}} {{.Config.Cmd}} {{.Config.Entrypoint}} {{.Config.Env}} {{.Config.WorkingDir}} {{.Config.User}} {{.Config.Tty}} {{.Config.OpenStdin}} {{.Config.AttachStdout}} {{.Config.Labels}} {{.Config.StopSignal}}' c1
docker inspect -f '{{.HostConfig.NetworkMode}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.HostConfig.AutoRemove}} {{.HostConfig.Privileged}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.Init}} {{.HostConfig.LogConfig.Type}} {{.HostConfig.Binds}} {{.HostConfig.PortBindings}}' c1
docker inspect -f '{{json .Mounts}} {{.NetworkSettings.IPAddress}} {{json .NetworkSettings.Ports}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}' c1
docker inspect -f '{{.State.StartedAt}} {{.State.FinishedAt}} {{.Created}}' c1 | sed 's/[0-9]/N/g'
docker inspect --type image c1
docker inspect --type container bb
docker container inspect -f '{{.Id}}' c1 | wc -c
docker inspect -f '{{.Nosuch}}' c1
docker inspect -f '{{.State.Nosuch}}' c1
docker rm c1 nosuch
docker rm nosuch
docker stop nosuch
docker kill c1
docker pause c1
docker unpause c1
docker restart nosuch
docker wait c1
docker rename c1 c1b
docker rename c1b c1b
docker rename nosuch x
@docker run -d --network none --name r1 bb sleep 1000
docker rename c1b r1
docker rm r1
docker rm -f c1b; docker ps -a -q --filter name=c1b | wc -l
docker run -d --network none --name r1 bb sleep 1
docker pause r1
docker inspect -f '{{.State.Status}} {{.State.Paused}}' r1
docker pause r1
docker exec r1 true
docker unpause r1
docker unpause r1
docker top r1 | head -1
docker top r1 -o pid,comm | head -1
docker port r1
docker port r1 80
docker kill -s BOGUS r1
docker kill -s USR1 r1; docker inspect -f '{{.State.Status}}' r1
docker exec r1 sh -c 'exit 7'
docker exec -u nosuchuser r1 true
docker exec r1 nosuchcmd
docker exec -w /nosuchdir r1 pwd
docker exec -e A=1 -w /tmp r1 sh -c 'echo $A; pwd'
docker exec -u nobody r1 id
docker exec r1 id
docker exec -u nobody:root r1 id
docker exec nosuch true
docker update --memory 64m r1; docker inspect -f '{{.HostConfig.Memory}}' r1
docker update --restart always r1; docker inspect -f '{{.HostConfig.RestartPolicy.Name}}' r1
docker update --restart no r1
docker update --cpus 0.5 r1; docker inspect -f '{{.HostConfig.NanoCpus}}' r1
docker update --memory 64k r1
docker stop -t 1 r1; docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' r1
docker exec r1 true
docker pause r1
docker unpause r1
docker kill r1
docker wait r1
docker top r1
docker stats --no-stream r1 --format '{{.Name}}'
docker restart -t 1 r1; docker inspect -f '{{.State.Status}}' r1
docker rm r1
docker rm -f r1

# --- run flags and bad values
docker run --network none --restart bogus bb true
docker run --network none --restart always --rm bb true
docker run --network none --restart on-failure:x bb true
docker run --network none -m 1k bb true
docker run --network none --cpus -1 bb true
docker run --network none -p 80:80 bb true
docker run --network none -p 99999:80 bb true
docker run --network none --name 'bad name' bb true
docker run --network nosuchnet bb true
docker run --network none -v relative:/x:zz bb true
docker run --network none -v /tmp:relative bb true
docker run --network none --mount type=bind,source=/nonexistent/x,target=/x bb true
docker run --network none --mount type=bogus,target=/x bb true
docker run --network none -e 'A=B' -w /tmp --user nobody bb sh -c 'echo $A; pwd; id'
docker run --network none bb id
docker run --network none bb env | sort
docker run --network none -u 1234 bb id
docker run --network none --user nosuch bb true
docker run --network none -w relative bb pwd
docker run --network none --entrypoint echo bb hi there
docker run --network none --init bb ps -o pid,comm
docker run --network none --stop-signal SIGUSR1 --name ss bb true; docker inspect -f '{{.Config.StopSignal}}' ss
docker run --network none --log-driver bogus bb true
docker run --network none --read-only bb touch /x
docker run --network none --tmpfs /t bb sh -c 'touch /t/a && echo ok'
docker run --network none -h myhost bb hostname
docker run --network none --label a=b --name lab bb true; docker ps -a --filter label=a=b --format '{{.Names}} {{.Labels}}'
docker ps -a --filter label=a --format '{{.Names}} {{.Label "a"}}'
docker ps -a --filter ancestor=bb -q | wc -l
docker ps -a --filter exited=0 -q | wc -l
docker ps -a -n 1 --format '{{.Names}}'
docker ps -a -s --format '{{.Names}} {{.Size}}' -n 2
docker ps -a --filter health=bogus
docker ps -a --filter exited=x
docker ps -a --filter status=created -q | wc -l
docker ps -a --filter volume=nosuch -q | wc -l
docker ps -a -l --format '{{.Names}}'
docker ps -a --format '{{.ID}} {{.CreatedAt}} {{.RunningFor}} {{.Size}} {{.Mounts}} {{.Networks}} {{.State}}' | head -1
docker ps -a --format json | head -1 | python3 -c 'import json,sys; print(sorted(json.loads(sys.stdin.read()).keys()))'
docker run --network none --health-cmd 'exit 0' --health-interval 1s --name hc -d bb sleep 30; sleep 3; docker inspect -f '{{.State.Health.Status}} {{.State.Health.FailingStreak}} {{len .State.Health.Log}}' hc; docker ps --format '{{.Status}}' -f name=hc
docker inspect -f '{{json .Config.Healthcheck}}' hc
docker rm -f hc
docker run --network none --health-interval bogus bb true
docker create --network none --name cr bb true; docker inspect -f '{{.State.Status}}' cr
docker start cr nosuch
docker logs cr
docker logs nosuch
docker run --network none --name lg bb sh -c 'echo out; echo err >&2'; docker logs lg
docker logs --tail 1 lg
docker logs --since bogus lg
docker logs --tail bogus lg
docker cp lg:/etc/passwd - | tar -t
docker cp lg:/nosuch /tmp/x
docker cp nosuch:/etc /tmp/x
docker cp /nonexistent lg:/tmp
docker diff lg
docker commit lg committed:v1 >/dev/null; docker images committed --format '{{.Repository}} {{.Tag}}'
docker container prune -f | grep -c '^<ID>\|^[0-9a-f]'
docker ps -a --format '{{.Names}}'

# --- images
docker images --format '{{.Repository}}:{{.Tag}}' | sort
docker images --format 'table {{.Repository}}\t{{.Tag}}' | head -1
docker images | head -1
docker image inspect -f '{{.Os}} {{.Architecture}} {{.Config.Cmd}} {{.RepoTags}} {{.Author}} {{.Comment}} {{.DockerVersion}} {{len .RootFS.Layers}} {{.RootFS.Type}}' bb
docker tag bb bb:two; docker tag nosuch x; docker rmi nosuch
docker rmi bb:two
docker rmi 'bad name'
docker history bb --format '{{.CreatedBy}} {{.Comment}}'
docker pull 127.0.0.1:1/nosuch
docker image prune -f

# --- volumes
docker volume create v1
docker volume create v1
docker volume ls --format '{{.Name}} {{.Driver}} {{.Scope}}'
docker volume inspect -f '{{.Name}} {{.Driver}} {{.Mountpoint}} {{.Scope}} {{.Labels}} {{.Options}}' v1
docker volume inspect nosuch
docker volume create --driver nosuch v2
docker volume create -o type=tmpfs v3; docker volume rm v3
docker volume create -o bogus=1 v5; docker volume create -o o=size=1m v5; docker volume create -o device=/tmp -o o=bind v5; docker volume create -o size=1g v5; docker volume create -o size=x v5; docker volume ls -q
docker volume create -o type=tmpfs -o device=tmpfs -o o=size=8m,uid=7 v4; docker volume inspect -f '{{.Options}}' v4; docker run --network none --rm -v v4:/nothere bb sh -c 'grep /nothere /proc/mounts; echo x > /nothere/f'; docker run --network none --rm -v v4:/nothere bb ls -A /nothere; docker volume rm v4
docker volume create -o type=bogusfs -o device=nodev -o o=size=1m,ro,nosuid v6; docker run --network none --name v6c -v v6:/nothere bb true; docker inspect -f '{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}' v6c; docker rm v6c; docker volume rm v6
@mkdir -p /tmp/par-bindvol-$P && echo pre > /tmp/par-bindvol-$P/pre
docker volume create -o type=none -o o=bind -o device=/tmp/par-bindvol-$P v7; docker run --network none --rm -v v7:/nothere bb sh -c 'cat /nothere/pre; echo c > /nothere/c'; docker volume rm v7; ls /tmp/par-bindvol-$P; rm -rf /tmp/par-bindvol-$P
docker run --network none --name vu -v v1:/data bb sh -c 'echo x > /data/f'; docker volume rm v1
docker inspect -f '{{range .Mounts}}{{.Type}} {{.Name}} {{.Source}} {{.Destination}} {{.Driver}} {{.Mode}} {{.RW}} {{.Propagation}}{{end}}' vu
docker run --network none --rm -v v1:/data:ro bb sh -c 'cat /data/f; touch /data/g'
docker run --network none --name anon -v /anon bb true; docker inspect -f '{{range .Mounts}}{{.Type}} {{.Destination}} {{.RW}}{{end}}' anon
docker run --network none --name bnd -v /tmp:/h:ro bb true; docker inspect -f '{{range .Mounts}}{{.Type}} {{.Source}} {{.Destination}} {{.Mode}} {{.RW}} {{.Propagation}}{{end}} {{.HostConfig.Binds}}' bnd
docker volume rm nosuch
docker volume ls -f dangling=true --format '{{.Name}}' | wc -l
docker rm vu anon bnd
docker volume prune -f | tail -1
docker volume prune -af | tail -1
docker volume ls -q

# --- networks
docker network ls --format '{{.Name}} {{.Driver}} {{.Scope}}' | sort
docker network create --subnet 10.$P.1.0/24 n1
docker network create n1
docker network create --subnet 10.$P.1.0/24 n2
docker network create --subnet bogus n3
docker network create --driver nosuch n4
docker network inspect -f '{{.Name}} {{.Driver}} {{.Scope}} {{.Internal}} {{.Attachable}} {{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{.IPAM.Driver}} {{.Labels}} {{.Options}}' n1
docker network inspect nosuch
docker run -d --network n1 --name nc1 bb sleep 100; docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{$v.IPAddress}} {{$v.Gateway}} {{$v.IPPrefixLen}} {{$v.MacAddress}} {{$v.Aliases}}{{end}}' nc1
docker network inspect -f '{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}' n1
docker network rm n1
docker network connect n1 nc1
docker network connect nosuch nc1
docker network disconnect nosuch nc1
docker network connect n1 nosuch
docker run --network n1 --rm bb ping -c1 -W2 nc1 | head -1
docker network disconnect n1 nc1; docker inspect -f '{{len .NetworkSettings.Networks}} {{.HostConfig.NetworkMode}}' nc1
docker restart -t 0 nc1; docker exec nc1 ip -o -4 addr | wc -l
docker network disconnect n1 nc1
docker rm -f nc1
docker network create --internal n5; docker network inspect -f '{{.Internal}}' n5
docker network rm n5 nosuch
docker network ls -f name=n1 --format '{{.Name}}'
docker network prune -f
docker network rm bridge none host
docker run --network host --rm bb true; echo $?
docker run --network container:nosuch bb true
docker run -d --network none --name base bb sleep 100
docker run --network container:base -p 80:80 bb true
docker run --network container:base bb hostname
docker run --network host -p 80:80 --rm bb true
docker rm -f base

# --- system
docker system df --format '{{.Type}}'
docker info --format '{{.Driver}} {{.CgroupDriver}} {{.CgroupVersion}} {{.OSType}} {{.Architecture}} {{.LoggingDriver}} {{.DefaultRuntime}} {{json .Runtimes}}' | sed 's/overlay2\|vfs/SNAP/'
docker info --format '{{.Containers}} {{.ContainersRunning}} {{.ContainersPaused}} {{.ContainersStopped}} {{.Images}}'
docker version --format '{{.Server.Os}} {{.Server.Arch}}'
docker ps -a --format '{{.Names}} {{.Status}}'
docker system prune -f | tail -1
docker ps -a --format '{{.Names}} {{.Status}}'
docker events --since 0 --until 1 --filter type=bogus
docker events --since 1s --until 1s --filter event=bogus; echo $?

# --- second batch: logs, wait, restart policies, stop signals, ports, events, top/stats, build
docker run --network none --name lg2 bb sh -c 'for i in 1 2 3; do echo line$i; done'; docker logs --tail 2 lg2; docker logs -n 0 lg2 | wc -l
docker logs --until 1s lg2 | wc -l
docker logs -f lg2
docker wait lg2 nosuch
docker run -d --network none --name w1 bb sh -c 'sleep 1; exit 4'; docker wait w1
docker run --network none --restart on-failure:2 --name rp bb sh -c 'exit 1'; sleep 4; docker inspect -f '{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}' rp
docker run -d --network none --restart always --name ra bb sh -c 'exit 0'; sleep 2; docker inspect -f '{{.HostConfig.RestartPolicy.Name}}' ra; docker stop -t 1 ra >/dev/null; docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' ra
docker rm -f rp ra >/dev/null; echo done
docker run -d --network none --stop-signal SIGKILL --name sk bb sleep 100; docker stop sk; docker inspect -f '{{.State.ExitCode}} {{.Config.StopSignal}}' sk
docker run -d --network none --stop-timeout 1 --name st bb sleep 100; docker stop st; docker inspect -f '{{.State.ExitCode}} {{.Config.StopTimeout}}' st
docker run -d --network none --init --name it bb sleep 100; docker stop -t 5 it; docker inspect -f '{{.State.ExitCode}} {{.HostConfig.Init}}' it
docker run -d --network none -p 8080:80 --name pp bb sleep 100; docker port pp; docker inspect -f '{{json .HostConfig.PortBindings}} {{json .NetworkSettings.Ports}}' pp
docker create --network none -p 127.0.0.1:8081:80/udp -p 8082:82 --expose 90 --name pc bb true; docker port pc; docker inspect -f '{{json .HostConfig.PortBindings}} {{json .Config.ExposedPorts}}' pc
docker port pc 80/udp
docker port pc 99
docker ps -a --filter name=pc --format '{{.Ports}}'
docker rm -f pp pc sk st it >/dev/null; echo ok
docker run -d --network none --name tp bb sh -c 'sleep 100'; docker top tp -o pid,args | tail -n +2 | sed 's/^ *[0-9]* */PID /'
docker top tp aux | head -1
docker stats --no-stream --format '{{.Name}} {{.PIDs}}' tp
docker stats --no-stream --format '{{json .}}' tp | python3 -c 'import json,sys; print(sorted(json.loads(sys.stdin.read()).keys()))'
docker stats --no-stream nosuch
docker exec tp sh -c 'echo hi > /tmp/f'; docker cp tp:/tmp/f - | tar -xO; docker cp tp:/tmp/f /tmp/par-cp-f && cat /tmp/par-cp-f && rm /tmp/par-cp-f
docker cp /etc/hostname tp:/nosuchdir/x
docker cp tp:/tmp /tmp/par-cp-d && ls /tmp/par-cp-d && rm -rf /tmp/par-cp-d
docker attach nosuch
docker rm -f tp >/dev/null; echo ok
docker events --since 0 --until "$(date +%s)" --filter container=lg2 --format '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}'
docker events --since 0 --until "$(date +%s)" --filter type=volume --format '{{.Type}} {{.Action}}' | sort | uniq -c
docker events --since 0 --until "$(date +%s)" --filter event=rename --format '{{.Action}} {{.Actor.Attributes.oldName}}'
docker events --since 0 --until "$(date +%s)" --filter type=network --format '{{.Type}} {{.Action}}' | sort | uniq -c
docker events --since 0 --until "$(date +%s)" --filter container=lg2 --format '{{json .}}' | head -1 | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(sorted(d.keys()), sorted(d["Actor"].keys()))'
docker system df
docker system df -v | head -3
docker info --format '{{.Name}}' | wc -l
docker version --format '{{.Server.APIVersion}}' | wc -l
docker container ls -a --format '{{.Names}}' --filter name=lg2
docker container prune -f --filter until=1h | tail -1
docker volume create --label a=b lv; docker volume ls --filter label=a=b -q; docker volume ls -f name=lv -q; docker volume rm lv
docker network create --label k=v nl; docker network ls --filter label=k=v --format '{{.Name}}'; docker network ls -f driver=bridge -q | wc -l; docker network rm nl
docker network create --subnet 10.$P.9.0/24 --gateway 10.$P.9.254 ng; docker network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' ng; docker run --rm --network ng bb ip route | grep default; docker network rm ng
docker network create --subnet 10.$P.10.0/24 nx; docker run --rm --network nx --ip 10.$P.10.77 bb ip -o -4 addr show eth0 | awk '{print $4}'; docker run --rm --network nx --ip 10.$P.11.5 bb true; docker network rm nx
docker run --rm --network none --dns 9.9.9.9 --dns-search ex.com --dns-option ndots:3 bb cat /etc/resolv.conf
docker run --rm --network none --add-host foo:1.2.3.4 bb grep foo /etc/hosts
docker run --rm --network none --add-host foo:bad bb true
# classic builder output
@mkdir -p /tmp/par-ctx-$P && printf 'FROM bb\nENV A=1\nRUN echo built > /f\nCOPY x /x\nCMD ["cat","/f"]\n' > /tmp/par-ctx-$P/Dockerfile && echo data > /tmp/par-ctx-$P/x
DOCKER_BUILDKIT=0 docker build -t bt /tmp/par-ctx-$P 2>&1 | grep -v '^ ---> [0-9a-f]\{12\}$' | sed 's/Running in [0-9a-f]*/Running in ID/; s/intermediate container [0-9a-f]*/intermediate container ID/'
DOCKER_BUILDKIT=0 docker build -t bt /tmp/par-ctx-$P 2>&1 | grep -c 'Using cache'
DOCKER_BUILDKIT=0 docker build -q -t bt /tmp/par-ctx-$P | wc -c
docker run --rm --network none bt
docker image inspect -f '{{.Config.Env}} {{.Config.Cmd}} {{len .RootFS.Layers}}' bt
docker history --format '{{.CreatedBy}}' bt | head -4
@printf 'FROM bb\nRUN exit 3\n' > /tmp/par-ctx-$P/Dockerfile.bad
DOCKER_BUILDKIT=0 docker build -f /tmp/par-ctx-$P/Dockerfile.bad /tmp/par-ctx-$P 2>&1 | tail -2 | sed 's/Running in [0-9a-f]*/Running in ID/'; echo "rc=${PIPESTATUS[0]}"
@printf 'FROM bb\nFORM x\n' > /tmp/par-ctx-$P/Dockerfile.syn
DOCKER_BUILDKIT=0 docker build -f /tmp/par-ctx-$P/Dockerfile.syn /tmp/par-ctx-$P; echo rc=$?
@printf 'FROM bb\nCOPY nosuch /x\n' > /tmp/par-ctx-$P/Dockerfile.cp
DOCKER_BUILDKIT=0 docker build -f /tmp/par-ctx-$P/Dockerfile.cp /tmp/par-ctx-$P 2>&1 | tail -1
@rm -rf /tmp/par-ctx-$P
docker image rm bt | grep -c Deleted
docker images -a --format '{{.Repository}}:{{.Tag}}' | sort
docker run --network none -d --name ex2 bb sleep 100; docker exec ex2 env | sort; docker exec -u nobody ex2 sh -c 'echo $HOME'; docker rm -f ex2
docker run --network none -t --rm bb env | sort
docker run --network none --rm -e HOME=/x -e HOSTNAME=h bb env | sort
docker run --network none --name vm1 -v vv:/data -v /anon bb true; docker events --since 0 --until "$(date +%s)" --filter type=volume --format '{{.Action}} {{json .Actor.Attributes}}' | sed 's/[0-9a-f]\{64\}/ID/g'
# last: removes the base image
docker system prune -af | tail -1
