#!/usr/bin/env bash
# run-services.sh: run N alchemiscale-like compute services on this node, for one batch job.
#
#   bash run-services.sh [-c service.yaml] [-n N] [-- extra 'compute synchronous' options]
#
# Every job template in this folder ends by exec-ing this script. It
#   * starts N services (`alchemiscale-like compute synchronous -c FILE`), each with its own
#     ALCHEMISCALE_LIKE_COMPUTE_SERVICE_SUFFIX and its own scratch folder, and one file cache
#     folder for all of them (ALCHEMISCALE_LIKE_COMPUTE_CACHE_DIR, default: scratch base/cache);
#   * passes the time the job has left, minus a reserve, as ALCHEMISCALE_LIKE_COMPUTE_MAX_TIME,
#     so each service stops claiming, releases its tasks and exits before the walltime;
#   * turns SIGTERM, SIGINT, SIGUSR1 and SIGUSR2 into one SIGTERM per service (a clean stop:
#     finish the unit in flight, upload, release, deregister); a second signal is forwarded
#     again, and the services then exit at once;
#   * waits for every service and exits 0 when all of them exited 0, else with the first
#     failing service's status (2: this script's own configuration error, nothing started).
#
# Environment (all optional; see README.md):
#   ALCHEMISCALE_LIKE_SERVICE_CONFIG   service.yaml when -c is not given (default: service.yaml)
#   ALCHEMISCALE_LIKE_SERVICES_PER_NODE  N when -n is not given (default: SLURM_NTASKS_PER_NODE,
#                                      then SLURM_NTASKS on a one-node job, then 1)
#   ALCHEMISCALE_LIKE_JOB_END_TIME     the walltime's end, in seconds since the epoch
#   ALCHEMISCALE_LIKE_WALLTIME         the time left, e.g. 43200, 12:00:00, 1-00:00:00, 11h30m
#                                      (without both: SLURM_JOB_END_TIME, `squeue -o %L`,
#                                      PBS_WALLTIME, `qstat -f`; else no max_time is set)
#   ALCHEMISCALE_LIKE_WALLTIME_RESERVE seconds kept back from the time left (default: 60)
#   ALCHEMISCALE_LIKE_SCRATCH_BASE     parent of the per-service scratch folders
#                                      (default: $_CONDOR_SCRATCH_DIR, $TMPDIR or /tmp, plus
#                                      /alchemiscale-like)
#   ALCHEMISCALE_LIKE_LOG_DIR          one log file per service here (default: the job's stderr)
#   ALCHEMISCALE_LIKE_JOB_ID           the job's id in service names (default: the scheduler's)
#   ALCHEMISCALE_LIKE_COMMAND          the CLI (default: alchemiscale-like)

set -uo pipefail

readonly MAX_SERVICES=256
readonly SUFFIX_LIMIT=64

PIDS=()
SIGNALS_RECEIVED=0
INTERRUPTED=0
WALLTIME_LEFT=""
WALLTIME_SOURCE=""

log() {
    local level=$1
    shift
    printf 'ts=%s level=%s logger=run-services %s\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$level" "$*" >&2
}

die() {
    log ERROR "event=config_error message=\"$*\""
    exit 2
}

# Seconds in a duration: 90, 90.5 (truncated), [HH:]MM:SS, D-HH:MM:SS (Slurm, PBS), or
# 1d2h30m45s-style (as max_time in service.yaml). Prints nothing and fails on anything else.
duration_seconds() {
    local text=$1
    if [[ $text =~ ^([0-9]+)(\.[0-9]+)?$ ]]; then
        echo $((10#${BASH_REMATCH[1]}))
    elif [[ $text =~ ^([0-9]+)-([0-9]+):([0-9]+):([0-9]+)$ ]]; then
        echo $((10#${BASH_REMATCH[1]} * 86400 + 10#${BASH_REMATCH[2]} * 3600 \
            + 10#${BASH_REMATCH[3]} * 60 + 10#${BASH_REMATCH[4]}))
    elif [[ $text =~ ^(([0-9]+):)?([0-9]+):([0-9]+)$ ]]; then
        echo $((10#${BASH_REMATCH[2]:-0} * 3600 + 10#${BASH_REMATCH[3]} * 60 \
            + 10#${BASH_REMATCH[4]}))
    elif [[ -n $text && $text =~ ^(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?$ ]]; then
        echo $((10#${BASH_REMATCH[2]:-0} * 86400 + 10#${BASH_REMATCH[4]:-0} * 3600 \
            + 10#${BASH_REMATCH[6]:-0} * 60 + 10#${BASH_REMATCH[8]:-0}))
    else
        return 1
    fi
}

# Sets WALLTIME_LEFT (seconds) and WALLTIME_SOURCE from the first source that answers;
# fails if none does. Explicit variables win over what the scheduler reports.
find_walltime() {
    local now left limit used info
    now=$(date +%s)
    if [[ -n ${ALCHEMISCALE_LIKE_JOB_END_TIME:-} ]]; then
        [[ $ALCHEMISCALE_LIKE_JOB_END_TIME =~ ^[0-9]+$ ]] ||
            die "ALCHEMISCALE_LIKE_JOB_END_TIME must be seconds since the epoch, not '$ALCHEMISCALE_LIKE_JOB_END_TIME'"
        WALLTIME_LEFT=$((ALCHEMISCALE_LIKE_JOB_END_TIME - now))
        WALLTIME_SOURCE=ALCHEMISCALE_LIKE_JOB_END_TIME
    elif [[ -n ${ALCHEMISCALE_LIKE_WALLTIME:-} ]]; then
        WALLTIME_LEFT=$(duration_seconds "$ALCHEMISCALE_LIKE_WALLTIME") ||
            die "ALCHEMISCALE_LIKE_WALLTIME must look like 43200, 12:00:00, 1-00:00:00 or 11h30m, not '$ALCHEMISCALE_LIKE_WALLTIME'"
        WALLTIME_SOURCE=ALCHEMISCALE_LIKE_WALLTIME
    elif [[ -n ${SLURM_JOB_END_TIME:-} ]]; then
        [[ $SLURM_JOB_END_TIME =~ ^[0-9]+$ ]] ||
            die "SLURM_JOB_END_TIME must be seconds since the epoch, not '$SLURM_JOB_END_TIME'"
        WALLTIME_LEFT=$((SLURM_JOB_END_TIME - now))
        WALLTIME_SOURCE=SLURM_JOB_END_TIME
    elif [[ -n ${SLURM_JOB_ID:-} ]] && command -v squeue >/dev/null &&
        left=$(squeue -h -j "$SLURM_JOB_ID" -o %L 2>/dev/null) &&
        WALLTIME_LEFT=$(duration_seconds "${left//[[:space:]]/}"); then
        WALLTIME_SOURCE="squeue"
    elif [[ -n ${PBS_WALLTIME:-} ]]; then
        WALLTIME_LEFT=$(duration_seconds "$PBS_WALLTIME") ||
            die "PBS_WALLTIME must be seconds or HH:MM:SS, not '$PBS_WALLTIME'"
        WALLTIME_SOURCE=PBS_WALLTIME
    elif [[ -n ${PBS_JOBID:-} ]] && command -v qstat >/dev/null &&
        info=$(qstat -f "$PBS_JOBID" 2>/dev/null) &&
        limit=$(sed -n 's/^ *Resource_List\.walltime = *//p' <<<"$info") &&
        limit=$(duration_seconds "$limit"); then
        used=$(sed -n 's/^ *resources_used\.walltime = *//p' <<<"$info")
        used=$(duration_seconds "$used") || used=0
        WALLTIME_LEFT=$((limit - used))
        WALLTIME_SOURCE="qstat"
    else
        return 1
    fi
}

# How many services: -n, ALCHEMISCALE_LIKE_SERVICES_PER_NODE, the Slurm task count, or 1.
service_count() {
    local count=${1:-${ALCHEMISCALE_LIKE_SERVICES_PER_NODE:-}}
    if [[ -z $count && -n ${SLURM_NTASKS_PER_NODE:-}${SLURM_NTASKS:-} ]]; then
        # This script runs on the batch node only: the other nodes of the job would idle.
        # More nodes means more jobs (a job array).
        [[ ${SLURM_JOB_NUM_NODES:-1} == 1 ]] ||
            die "the job has ${SLURM_JOB_NUM_NODES} nodes: use --nodes=1 (and a job array for more nodes) or set ALCHEMISCALE_LIKE_SERVICES_PER_NODE"
        count=${SLURM_NTASKS_PER_NODE:-$SLURM_NTASKS}
    fi
    count=${count:-1}
    if ! [[ $count =~ ^[1-9][0-9]*$ ]] || ((count > MAX_SERVICES)); then
        die "the number of services must be a whole number from 1 to $MAX_SERVICES, not '$count'"
    fi
    echo "$count"
}

# The job's id as the scheduler names it (array jobs: job and index).
job_id() {
    if [[ -n ${ALCHEMISCALE_LIKE_JOB_ID:-} ]]; then
        echo "$ALCHEMISCALE_LIKE_JOB_ID"
    elif [[ -n ${SLURM_ARRAY_JOB_ID:-} && -n ${SLURM_ARRAY_TASK_ID:-} ]]; then
        echo "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
    elif [[ -n ${SLURM_JOB_ID:-} ]]; then
        echo "$SLURM_JOB_ID"
    elif [[ -n ${PBS_JOBID:-} ]]; then
        echo "${PBS_JOBID%%.*}"
    elif [[ -n ${LSB_JOBID:-} ]]; then
        echo "${LSB_JOBID}${LSB_JOBINDEX:+_$LSB_JOBINDEX}"
    else
        echo "pid$$"
    fi
}

# `{host}-{job}-{start time}-{index}`, only [A-Za-z0-9._-], at most 64 characters: unique
# per run, so a requeued job never takes over the registration (and claims) of its last run.
service_suffix() {
    local stem=$1 index=$2 tail
    tail="-$index"
    stem=${stem//[^A-Za-z0-9._-]/-}
    echo "${stem:0:SUFFIX_LIMIT - ${#tail}}$tail"
}

# Send SIGTERM to every service still running (bash's job table, so never to a reused pid).
signal_services() {
    local pid
    for pid in $(jobs -rp); do
        kill -TERM "$pid" 2>/dev/null || true
    done
}

on_signal() {
    SIGNALS_RECEIVED=$((SIGNALS_RECEIVED + 1))
    INTERRUPTED=1
    log WARNING "event=signal signal=$1 count=$SIGNALS_RECEIVED forward=TERM services=$(jobs -rp | wc -l)"
    signal_services
}

on_exit() {
    # Reached with services still running only if this script failed: do not orphan them.
    if [[ -n $(jobs -rp) ]]; then
        log ERROR "event=abnormal_exit forward=TERM"
        signal_services
    fi
}

# Wait for every service, also across signals that interrupt `wait`; the exit status
# is 0 if all services exited 0, else the first non-zero one.
wait_services() {
    local index rc status=0
    for index in "${!PIDS[@]}"; do
        while :; do
            INTERRUPTED=0
            wait "${PIDS[index]}"
            rc=$?
            # A trapped signal ends `wait` early; bash keeps the real status for a re-wait.
            ((INTERRUPTED)) || break
        done
        log INFO "event=service_exit index=$((index + 1)) pid=${PIDS[index]} status=$rc"
        ((rc != 0 && status == 0)) && status=$rc
    done
    return "$status"
}

usage() {
    sed -n '2,4p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

main() {
    local config=${ALCHEMISCALE_LIKE_SERVICE_CONFIG:-service.yaml} services="" extra=()
    while (($#)); do
        case $1 in
            -c | --config) (($# >= 2)) || die "$1 needs a file"; config=$2; shift 2 ;;
            -n | --services) (($# >= 2)) || die "$1 needs a number"; services=$2; shift 2 ;;
            -h | --help) usage; return 0 ;;
            --) shift; extra=("$@"); break ;;
            *) die "unknown argument '$1' (see --help)" ;;
        esac
    done

    [[ -f $config && -r $config ]] || die "no readable service config at '$config' (-c or ALCHEMISCALE_LIKE_SERVICE_CONFIG)"
    config=$(cd "$(dirname "$config")" && pwd)/$(basename "$config")
    local count command=()
    count=$(service_count "$services") || exit 2
    read -ra command <<<"${ALCHEMISCALE_LIKE_COMMAND:-alchemiscale-like}"
    if ((${#command[@]} == 0)) || ! command -v "${command[0]}" >/dev/null; then
        die "'${command[0]:-}' is not on PATH: load the environment with alchemiscale-like installed first"
    fi

    local reserve=${ALCHEMISCALE_LIKE_WALLTIME_RESERVE:-60} max_time=""
    [[ $reserve =~ ^[0-9]+$ ]] || die "ALCHEMISCALE_LIKE_WALLTIME_RESERVE must be whole seconds, not '$reserve'"
    if find_walltime; then
        max_time=$((WALLTIME_LEFT - reserve))
        ((max_time > 0)) || die "only ${WALLTIME_LEFT}s of walltime left (from $WALLTIME_SOURCE), not more than the ${reserve}s reserve"
        export ALCHEMISCALE_LIKE_COMPUTE_MAX_TIME=$max_time
        log INFO "event=walltime source=$WALLTIME_SOURCE seconds_left=$WALLTIME_LEFT reserve=$reserve max_time=$max_time deadline=$(($(date +%s) + WALLTIME_LEFT))"
    else
        log WARNING "event=walltime_unknown max_time=from_config hint=\"set ALCHEMISCALE_LIKE_WALLTIME or ALCHEMISCALE_LIKE_JOB_END_TIME\""
    fi

    local scratch_base=${ALCHEMISCALE_LIKE_SCRATCH_BASE:-${_CONDOR_SCRATCH_DIR:-${TMPDIR:-/tmp}}/alchemiscale-like}
    local log_dir=${ALCHEMISCALE_LIKE_LOG_DIR:-} stem host
    host=$(hostname -s 2>/dev/null || hostname)
    stem="${host:0:24}-$(job_id)-$(date +%s)"
    [[ -z $log_dir ]] || mkdir -p "$log_dir" || die "cannot create ALCHEMISCALE_LIKE_LOG_DIR '$log_dir'"

    # Job control: each service in its own process group, so a signal sent to this job's
    # process group (Ctrl-C, some schedulers) reaches the services once, through this script.
    set -m
    trap 'on_signal TERM' TERM
    trap 'on_signal INT' INT
    trap 'on_signal USR1' USR1
    trap 'on_signal USR2' USR2
    trap on_exit EXIT

    local index suffix scratch settings
    for ((index = 1; index <= count; index++)); do
        ((SIGNALS_RECEIVED == 0)) || break
        suffix=$(service_suffix "$stem" "$index")
        scratch=$scratch_base/$suffix
        mkdir -p "$scratch" || die "cannot create the scratch folder '$scratch'"
        settings=(
            "ALCHEMISCALE_LIKE_COMPUTE_SERVICE_SUFFIX=$suffix"
            "ALCHEMISCALE_LIKE_COMPUTE_SCRATCH_DIR=$scratch"
            "ALCHEMISCALE_LIKE_COMPUTE_CACHE_DIR=${ALCHEMISCALE_LIKE_COMPUTE_CACHE_DIR:-$scratch_base/cache}"
        )
        [[ -z $log_dir ]] || settings+=("ALCHEMISCALE_LIKE_COMPUTE_LOG_FILE=$log_dir/$suffix.log")
        # SIGUSR1/2 ignored in the service: a scheduler that sends its warning signal to every
        # process of the job (not only to this script) must not kill them.
        (
            trap '' USR1 USR2
            exec env "${settings[@]}" "${command[@]}" compute synchronous -c "$config" \
                "${extra[@]}" </dev/null
        ) &
        PIDS+=("$!")
        log INFO "event=service_started index=$index pid=$! suffix=$suffix scratch=$scratch config=$config"
    done

    local status=0
    wait_services || status=$?
    log INFO "event=job_done services=${#PIDS[@]} signals=$SIGNALS_RECEIVED status=$status"
    return "$status"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
    exit $?
fi
