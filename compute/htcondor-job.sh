#!/bin/bash
# The executable of htcondor.sub: runs in the job's scratch folder, next to the transferred
# run-services.sh and service.yaml. Argument: the job's id, $(ClusterId).$(ProcId).

set -uo pipefail

# --- the environment with alchemiscale-like installed (edit) ---------------------------------
# source /opt/venvs/alchemiscale-like/bin/activate
export ALCHEMISCALE_LIKE_JOB_ID=${1:-${ALCHEMISCALE_LIKE_JOB_ID:-}}
# HTCondor's per-job scratch folder is removed when the job leaves: checkpoints go to the
# object store before that, so nothing durable is lost with it.
export ALCHEMISCALE_LIKE_SCRATCH_BASE=${ALCHEMISCALE_LIKE_SCRATCH_BASE:-${_CONDOR_SCRATCH_DIR:-${TMPDIR:-/tmp}}/alchemiscale-like}

kit=${ALCHEMISCALE_LIKE_KIT_DIR:-$(dirname "$0")}
if [[ ! -f $kit/run-services.sh ]]; then
    echo "level=ERROR event=config_error message=\"run-services.sh not found: add it to transfer_input_files\"" >&2
    exit 2
fi

exec bash "$kit/run-services.sh" -c "${ALCHEMISCALE_LIKE_SERVICE_CONFIG:-service.yaml}"
