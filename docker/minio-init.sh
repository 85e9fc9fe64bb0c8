#!/bin/sh
# One-shot (compose service minio-init, image minio/mc): create the bucket and the MinIO
# user the APIs sign in as, with a policy allowing that bucket only. Safe to run again.
# Environment: MINIO_URL, MINIO_ROOT_USER, MINIO_ROOT_PASSWORD, BUCKET, S3_ACCESS_KEY_ID,
# S3_SECRET_ACCESS_KEY.
set -eu

mc alias set store "$MINIO_URL" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing "store/$BUCKET"

# The policy document is read from the here-document (no file left behind).
mc admin policy create store alchemiscale-like /dev/stdin <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
      "Resource": ["arn:aws:s3:::$BUCKET"]
    },
    {
      "Effect": "Allow",
      "Action": [
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts"
      ],
      "Resource": ["arn:aws:s3:::$BUCKET/*"]
    }
  ]
}
JSON
mc admin user add store "$S3_ACCESS_KEY_ID" "$S3_SECRET_ACCESS_KEY"
# Attaching a policy that is attached already is an error to MinIO: that one is fine.
if ! out=$(mc admin policy attach store alchemiscale-like --user "$S3_ACCESS_KEY_ID" 2>&1); then
    case "$out" in
        *"already in effect"*) ;;
        *) echo "$out" >&2; exit 1 ;;
    esac
fi
echo "bucket $BUCKET ready for $S3_ACCESS_KEY_ID"
