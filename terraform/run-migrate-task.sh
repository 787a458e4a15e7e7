#!/usr/bin/env bash
# Apply the database migrations on ECS, once, before the services serve or work:
# runs the one-off migrate task (ecs.tf) and waits for it to exit 0. Run it from
# any folder after `terraform apply`, and after every apply that changes the
# image (worker tasks wait for it; web tasks migrate too, one at a time).
set -euo pipefail
cd "$(dirname "$0")"
cluster=$(terraform output -raw cluster_name)
task=$(terraform output -json migrate_task)
read_task() { python3 -c "import json, sys; task = json.load(sys.stdin); print($1)" <<<"$task"; }
definition=$(read_task 'task["task_definition"]')
subnets=$(read_task '",".join(task["subnets"])')
group=$(read_task 'task["security_group"]')
arn=$(aws ecs run-task --cluster "$cluster" --launch-type FARGATE \
  --task-definition "$definition" \
  --network-configuration "awsvpcConfiguration={subnets=[$subnets],securityGroups=[$group],assignPublicIp=ENABLED}" \
  --query 'tasks[0].taskArn' --output text)
echo "migrate task $arn started; waiting for it to stop"
aws ecs wait tasks-stopped --cluster "$cluster" --tasks "$arn"
code=$(aws ecs describe-tasks --cluster "$cluster" --tasks "$arn" \
  --query 'tasks[0].containers[0].exitCode' --output text)
if [ "$code" != 0 ]; then
  echo "the migrate task exited with $code: its log is under the stream prefix migrate" >&2
  exit 1
fi
echo "migrations applied"
