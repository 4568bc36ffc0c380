/**
 * MSK IAM authentication for kafkajs: an OAUTHBEARER token provider that signs with AWS's own
 * signer (`aws-msk-iam-sasl-signer-js`) and reuses a token until shortly before it expires.
 * The token is a SigV4-presigned `kafka-cluster:Connect` URL, built locally from the credentials.
 */

/** AWS credentials as the AWS SDK's credential providers resolve them. */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

export interface MskIamTokenOptions {
  /** The cluster's Region (the token is signed for `kafka.<region>.amazonaws.com`). */
  readonly region: string;
  /** Where credentials come from. Default: the AWS SDK's default chain (environment, profile, role). */
  readonly credentials?: () => Promise<AwsCredentials>;
}

/** Refresh a token this long before it expires. */
export const TOKEN_REFRESH_MARGIN_MS = 60_000;

/** A kafkajs `oauthBearerProvider` for MSK IAM. */
export function mskIamTokenProvider(options: MskIamTokenOptions): () => Promise<{ value: string }> {
  let current: { token: string; expiryTime: number } | undefined;
  return async () => {
    if (!current || current.expiryTime - Date.now() < TOKEN_REFRESH_MARGIN_MS) {
      const signer = await import('aws-msk-iam-sasl-signer-js');
      current = options.credentials
        ? await signer.generateAuthTokenFromCredentialsProvider({
            region: options.region,
            awsCredentialsProvider: options.credentials,
          })
        : await signer.generateAuthToken({ region: options.region });
    }
    return { value: current.token };
  };
}
