#!/bin/sh
# The namespace and the custom search attributes Continuum writes (continuum/search_attributes.py;
# tests/deploy/test_compose.py checks that this list and that module agree). Idempotent.
set -eu

ns="${TEMPORAL_NAMESPACE:-default}"
until temporal operator cluster health >/dev/null 2>&1; do echo "waiting for Temporal"; sleep 1; done

temporal operator namespace describe -n "$ns" >/dev/null 2>&1 \
  || temporal operator namespace create -n "$ns" --retention "${TEMPORAL_RETENTION:-720h}"

for attribute in \
  OrderId=Keyword \
  CustomerId=Keyword \
  OrderStatus=Keyword \
  OrderTotal=Double \
  ApprovalRole=Keyword \
  ApprovalAssignee=Keyword \
  ApprovalDeadline=Datetime \
  ApprovalStatus=Keyword \
  AlertSeverity=Keyword \
  AlertRule=Keyword \
  PurchaseKeys=KeywordList \
  PurchaseTotal=Double \
  ProcessStatus=Keyword \
  StateSince=Datetime
do
  name="${attribute%%=*}"
  temporal operator search-attribute list -n "$ns" | grep -qw "$name" \
    || temporal operator search-attribute create -n "$ns" --name "$name" --type "${attribute#*=}"
done
echo "namespace $ns is ready"
