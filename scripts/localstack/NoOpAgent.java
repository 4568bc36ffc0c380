/**
 * A Java agent that does nothing. LocalStack starts DynamoDB Local with `-javaagent:` its own agent
 * (which lifts DynamoDB Local's limit of 20 global secondary indexes per table), downloaded at run
 * time from a host this project does not reach; scripts/localstack.ts builds this one in its place.
 * The collector's table has one index, so the limit does not matter here.
 */
public final class NoOpAgent {
  private NoOpAgent() {}

  public static void premain(String args, java.lang.instrument.Instrumentation instrumentation) {}
}
